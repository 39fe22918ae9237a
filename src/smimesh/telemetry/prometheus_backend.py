"""The at-scale backend: the same queries answered from a real Prometheus server's HTTP API.

`scrape_config(topology)` is the Prometheus configuration that scrapes every sidecar's
`/stats/prometheus` (filtered to the request stats, like the built-in scraper) and labels each
target with `smimesh_instance` (the node id), `namespace`, `pod` and `workload`.

`PrometheusBackend.totals(window_s, now)` reads the raw samples of the request counters and
latency buckets over the window plus `max_window_s` of look-back (one instant query per metric,
`metric[...]`), and takes exact differences itself rather than `increase()`, which extrapolates
and would not give whole counts. The baseline of a series is its last sample at or before the
window's start; a series Prometheus first saw inside the window counts from zero (Envoy creates
the response-class counters at their first request). Latency bins are Envoy's default buckets,
so percentiles are within one bucket's width (see `quantiles.py`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from smimesh.errors import SmimeshError
from smimesh.telemetry.edges import INBOUND, OUTBOUND, Series, Topology
from smimesh.telemetry.scrape import STAT_FILTER
from smimesh.telemetry.window import SeriesFilter, Totals
from smimesh.xds import names

INSTANCE_LABEL = "smimesh_instance"
_COUNTERS = {OUTBOUND: "envoy_cluster_upstream_rq_xx", INBOUND: "envoy_http_downstream_rq_xx"}
_BUCKETS = {
    OUTBOUND: "envoy_cluster_upstream_rq_time_bucket",
    INBOUND: "envoy_http_downstream_rq_time_bucket",
}
Samples = list[tuple[float, float]]


class PrometheusError(SmimeshError):
    """The Prometheus server did not answer a query, or answered an error."""


def scrape_targets(topology: Topology) -> list[dict[str, Any]]:
    """Every sidecar as a Prometheus target group with its identifying labels (static or file_sd)."""
    return [
        {
            "targets": [f"{pod.host}:{pod.admin_port}"],
            "labels": {
                INSTANCE_LABEL: pod.node_id,
                "namespace": pod.namespace,
                "pod": pod.name,
                "workload": pod.workload,
            },
        }
        for pod in sorted(topology.pods.values(), key=lambda p: p.node_id)
        if pod.admin_port
    ]


def scrape_config(
    topology: Topology, *, interval_s: float = 1.0, targets_file: Path | None = None
) -> dict[str, Any]:
    """prometheus.yml (as a dict) scraping every sidecar. With `targets_file`, the targets are read
    from that file (`file_sd_configs`, re-read by Prometheus on change: rewrite it with
    `scrape_targets` when instances come and go); otherwise they are listed inline."""
    job: dict[str, Any] = {
        "job_name": "smimesh-sidecars",
        "metrics_path": "/stats/prometheus",
        "params": {"filter": [STAT_FILTER]},
    }
    if targets_file is None:
        job["static_configs"] = scrape_targets(topology)
    else:
        job["file_sd_configs"] = [{"files": [str(targets_file)], "refresh_interval": "5s"}]
    interval = f"{max(1, round(interval_s * 1000))}ms"
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": [job]}


class PrometheusBackend:
    """Answers `totals(window_s, now)` from the Prometheus server at `url`."""

    def __init__(self, url: str, *, max_window_s: float = 300.0, timeout_s: float = 10.0) -> None:
        self.url, self.max_window_s, self.timeout_s = url.rstrip("/"), max_window_s, timeout_s

    async def totals(
        self, window_s: float, now: float, wanted: SeriesFilter | None = None
    ) -> Mapping[Series, Totals]:
        lookback = math.ceil(window_s + self.max_window_s)
        start = now - window_s
        result: dict[Series, Totals] = {}
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for direction in (OUTBOUND, INBOUND):
                for labels, samples in await self._matrix(client, _COUNTERS[direction], lookback, now):
                    series = _series(direction, labels)
                    if series is not None:
                        _add_count(result.setdefault(series, Totals()), labels, _delta(samples, start))
                buckets = await self._matrix(client, _BUCKETS[direction], lookback, now)
                _add_buckets(result, direction, buckets, start)
        return {series: totals for series, totals in result.items() if wanted is None or wanted(series)}

    async def _matrix(
        self, client: httpx.AsyncClient, metric: str, lookback: int, now: float
    ) -> list[tuple[dict[str, str], Samples]]:
        query = f'{metric}{{{INSTANCE_LABEL}!=""}}[{lookback}s]'
        try:
            response = await client.get(
                f"{self.url}/api/v1/query", params={"query": query, "time": f"{now:.3f}"}
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PrometheusError(
                f"Prometheus at {self.url} did not answer: {exc}",
                hint="check --prometheus-url and that the server is up",
            ) from exc
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus refused the query {query!r}: {body.get('error', body)}")
        return [
            (item["metric"], [(float(t), float(v)) for t, v in item["values"]])
            for item in body["data"]["result"]
        ]


def _series(direction: str, labels: Mapping[str, str]) -> Series | None:
    instance = labels.get(INSTANCE_LABEL, "")
    if direction == OUTBOUND:
        parsed = names.parse_outbound_cluster(labels.get("envoy_cluster_name", ""))
        return Series(OUTBOUND, instance, str(parsed[0])) if parsed else None
    prefix = labels.get("envoy_http_conn_manager_prefix", "")
    inbound = names.inbound_stat_prefix("")
    return Series(INBOUND, instance, prefix[len(inbound) :]) if prefix.startswith(inbound) else None


def _add_count(totals: Totals, labels: Mapping[str, str], delta: float) -> None:
    if labels.get("envoy_response_code_class") == "5":
        totals.failure += delta
    else:
        totals.success += delta


def _delta(samples: Sequence[tuple[float, float]], start: float) -> float:
    """What the counter grew by after `start` (resets count as a fresh start)."""
    before = [value for t, value in samples if t <= start]
    previous = before[-1] if before else 0.0
    grown = 0.0
    for t, value in samples:
        if t > start:
            grown += value - previous if value >= previous else value
            previous = value
    return grown


def _add_buckets(
    result: dict[Series, Totals], direction: str, buckets: list[tuple[dict[str, str], Samples]], start: float
) -> None:
    """Cumulative `le` buckets of each series → (lower, width) bins of the window."""
    cumulative: dict[Series, list[tuple[float, float]]] = {}
    for labels, samples in buckets:
        series = _series(direction, labels)
        if series is not None:
            cumulative.setdefault(series, []).append((float(labels["le"]), _delta(samples, start)))
    for series, les in cumulative.items():
        totals = result.setdefault(series, Totals())
        lower, below = 0.0, 0.0
        for le, count in sorted(les):
            if count - below > 0:
                key = (lower, le - lower)
                totals.bins[key] = totals.bins.get(key, 0.0) + count - below
            lower, below = le, count
