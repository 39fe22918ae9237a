"""The built-in metric checks of an analysis, read from the mesh's own TrafficMetrics.

`request-success-rate`: percent of the canary's responses that were not 5xx, against
`thresholdRange.min` (Flagger's legacy `threshold` too); `request-duration`: the canary's p99 in
milliseconds, against `thresholdRange.max`. Both over the metric's `interval` (default: the
analysis interval), measured by the canary instances' own sidecars (server side).

Metric absence is a policy, not a failure (Flagger counts it as failed; ANCHORS B5.1): an interval
with fewer requests than `smimesh.io/min-requests` (default 1) is "no-data", and
`smimesh.io/on-no-data` says what it does: hold (no advance, no failed check; default), fail, pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from smimesh.resources.canary import Canary, CanaryMetric
from smimesh.resources.durations import parse_duration

PASS, FAIL, NO_DATA = "pass", "fail", "no-data"


@dataclass(frozen=True, slots=True)
class Measurement:
    requests: float
    success_rate: float | None  # percent; None without requests
    p99_ms: float | None


class MetricsReader(Protocol):
    async def measure(self, namespace: str, workload: str, window_s: float) -> Measurement: ...


class TemplateReader(Protocol):
    async def value(self, canary: Canary, metric: CanaryMetric) -> float | None: ...


@dataclass
class CheckResult:
    outcome: str  # PASS | FAIL | NO_DATA
    entries: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def interval_s(canary: Canary) -> float:
    return parse_duration(canary.spec.analysis.interval or "1m")


async def run_checks(
    canary: Canary, reader: MetricsReader, wall: str, templates: TemplateReader | None = None
) -> CheckResult:
    """Every metric of the analysis over its window; the worst outcome wins (fail > no-data)."""
    result = CheckResult(PASS)
    for metric in canary.spec.analysis.metrics:
        window = parse_duration(metric.interval) if metric.interval else interval_s(canary)
        if metric.template_ref is not None:
            value = await templates.value(canary, metric) if templates else None
            entry = _judge_value(metric, value) | {"time": wall}
        else:
            measured = await reader.measure(canary.metadata.namespace, canary.spec.target_ref.name, window)
            entry = _judge(metric, measured, canary.min_requests) | {"time": wall}
        result.entries.append(entry)
        if entry["result"] == FAIL:
            result.outcome = FAIL
            result.message = _failed_message(canary, entry)
        elif entry["result"] == NO_DATA and result.outcome == PASS:
            result.outcome = NO_DATA
            result.message = _no_data_message(canary, entry, window)
    return result


def _bounds(metric: CanaryMetric) -> tuple[float | None, float | None]:
    low = metric.threshold_range.min if metric.threshold_range else None
    high = metric.threshold_range.max if metric.threshold_range else None
    if metric.threshold is not None and low is None and high is None:  # Flagger's legacy form
        return (metric.threshold, None) if metric.name == "request-success-rate" else (None, metric.threshold)
    return low, high


def _judge(metric: CanaryMetric, measured: Measurement, min_requests: int) -> dict[str, Any]:
    low, high = _bounds(metric)
    value = measured.success_rate if metric.name == "request-success-rate" else measured.p99_ms
    entry: dict[str, Any] = {
        "metric": metric.name,
        "requests": round(measured.requests),
        "min": low,
        "max": high,
    }
    if measured.requests < max(min_requests, 1) or value is None:
        return entry | {"value": None, "result": NO_DATA}
    ok = (low is None or value >= low) and (high is None or value <= high)
    return entry | {"value": round(value, 3), "result": PASS if ok else FAIL}


def _judge_value(metric: CanaryMetric, value: float | None) -> dict[str, Any]:
    """A MetricTemplate's value against the metric's range (Flagger: min and/or max)."""
    low, high = _bounds(metric)
    entry: dict[str, Any] = {"metric": metric.name, "requests": None, "min": low, "max": high}
    if value is None:
        return entry | {"value": None, "result": NO_DATA}
    ok = (low is None or value >= low) and (high is None or value <= high)
    return entry | {"value": round(value, 3), "result": PASS if ok else FAIL}


def _failed_message(canary: Canary, entry: dict[str, Any]) -> str:
    target = f"{canary.spec.target_ref.name}.{canary.metadata.namespace}"
    if entry["metric"] not in ("request-success-rate", "request-duration"):
        bound = (
            f"< {entry['min']}"
            if entry["min"] is not None and entry["value"] < entry["min"]
            else f"> {entry['max']}"
        )
        return f"Halt {target} advancement {entry['metric']} {entry['value']} {bound}"
    if entry["metric"] == "request-success-rate":
        return f"Halt {target} advancement success rate {entry['value']:.2f}% < {entry['min']}%"
    return f"Halt {target} advancement request duration {entry['value']:.0f}ms > {entry['max']}ms"


def _no_data_message(canary: Canary, entry: dict[str, Any], window: float) -> str:
    if entry["requests"] is None:
        policy = f"smimesh.io/on-no-data: {canary.on_no_data}"
        return f"no data: {entry['metric']} (MetricTemplate) gave no value; {policy}"
    return (
        f"no data: {entry['requests']} request(s) to the canary in the last {window:g}s, fewer than the "
        f"{max(canary.min_requests, 1)} required (smimesh.io/min-requests); "
        f"smimesh.io/on-no-data: {canary.on_no_data}"
    )
