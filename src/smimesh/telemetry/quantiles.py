"""Percentiles from histogram bins, and SMI's value formats (quantities, Go durations).

Error bound of a percentile: the true value of the sample at that rank lies in the bin the
estimate lies in, so `|estimate - true| <= bin width`. With Envoy's detailed bins (built-in
backend) a bin is at most 10 % of its lower bound wide (0.1 ms below 10 ms, 1 ms up to 100 ms,
10 ms up to 1 s, ...); Envoy records request times in whole milliseconds (truncated), which adds
up to 1 ms. With Prometheus the bins are Envoy's default buckets (0.5, 1, 5, 10, 25, 50, 100,
250, 500, 1000, 2500 ms, ...), so the bound is the width of that bucket.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from smimesh.telemetry.scrape import Bin

_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def quantile(bins: Sequence[Bin], q: float) -> float | None:
    """The `q`-quantile (0..1) of the samples in `bins`, interpolated inside its bin; None if empty."""
    total = sum(b.count for b in bins)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for b in bins:
        if b.count > 0 and seen + b.count >= rank:
            if math.isinf(b.width):
                return b.lower
            return b.lower + b.width * max(0.0, rank - seen) / b.count
        seen += b.count
    last = bins[-1]
    return last.lower if math.isinf(last.width) else last.upper


def quantiles(bins: Mapping[tuple[float, float], float], qs: Sequence[float]) -> list[float]:
    """Several quantiles of `{(lower, width): count}` in one pass (same rule as `quantile`); 0 if empty."""
    ordered = sorted(bins.items())
    total = sum(count for _, count in ordered)
    if total <= 0:
        return [0.0 for _ in qs]
    return [_at_rank(ordered, q * total) for q in qs]


def _at_rank(ordered: Sequence[tuple[tuple[float, float], float]], rank: float) -> float:
    seen = 0.0
    for (lower, width), count in ordered:
        if count > 0 and seen + count >= rank:
            return lower if math.isinf(width) else lower + width * max(0.0, rank - seen) / count
        seen += count
    (lower, width), _ = ordered[-1]
    return lower if math.isinf(width) else lower + width


def bin_width_at(bins: Sequence[Bin], value: float) -> float:
    """Width of the bin holding `value` (the error bound of a percentile reported as `value`)."""
    for b in bins:
        if b.lower <= value <= b.upper:
            return b.width
    return 0.0


def quantity(value: float) -> str:
    """A Kubernetes quantity string as the SMI SDK writes it: whole numbers bare, else milli-units."""
    millis = round(value * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def parse_quantity(text: str) -> float:
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (`30s`, `1m30s`, `5m0s`, `500ms`); ValueError if it is not one."""
    if not _GO_DURATION.match(text):
        raise ValueError(text)
    return sum(float(number) * _UNIT_S[unit] for number, unit in _PART.findall(text))


def go_duration(seconds: float) -> str:
    """Go's `time.Duration.String()` for whole seconds and milliseconds: `30s`, `5m0s`, `1h0m0s`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
