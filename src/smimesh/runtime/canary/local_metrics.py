"""The canary checks' `MetricsReader` in a running mesh: the SMI metrics API's own query.

Reads the canary Workload (`deployments` kind) over the window: success and failure counts and the
p99 its own sidecars measured (server side), exactly what `smimesh stat deployment` shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smimesh.runtime.canary.checks import Measurement
from smimesh.telemetry.quantiles import parse_quantity

NONE = Measurement(0.0, None, None)


class QueryMetrics:
    def __init__(self, query: Callable[[], Any]) -> None:
        self.query = query  # -> telemetry.query.MetricsQuery, or None before telemetry started

    async def measure(self, namespace: str, workload: str, window_s: float) -> Measurement:
        query = self.query()
        found = await query.get("deployments", namespace, workload, window_s) if query else None
        if found is None:
            return NONE
        values = {metric.name: parse_quantity(metric.value) for metric in found.metrics}
        success, failure = values.get("success_count", 0.0), values.get("failure_count", 0.0)
        total = success + failure
        if not total:
            return Measurement(0.0, None, None)
        return Measurement(total, 100.0 * success / total, values.get("p99_response_latency"))
