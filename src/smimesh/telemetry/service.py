"""Telemetry as one object for the runtime: the window, the collector, the query, the export.

    telemetry = Telemetry(lambda: Topology.from_model(current_model()), settings)
    task = asyncio.create_task(telemetry.run())        # owned and cancelled by the runtime
    create_app(..., metrics_query=telemetry.query)     # the SMI metrics API
    telemetry.export_text()                            # appended to the control plane's /metrics

With `prometheus_url`, queries go to that Prometheus server instead (`--metrics-backend
prometheus`); the built-in collector still runs so `export_text()` keeps working, and
`prometheus_config()` is the scrape config to give that server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smimesh.settings import Settings
from smimesh.telemetry.collector import Collector
from smimesh.telemetry.edges import Topology
from smimesh.telemetry.export import render
from smimesh.telemetry.prometheus_backend import PrometheusBackend, scrape_config
from smimesh.telemetry.query import Backend, BuiltinBackend, MetricsQuery
from smimesh.telemetry.window import SlidingWindow


class Telemetry:
    def __init__(
        self,
        topology: Callable[[], Topology],
        settings: Settings | None = None,
        *,
        prometheus_url: str | None = None,
    ) -> None:
        settings = settings or Settings()
        self.topology = topology
        self.interval_s = settings.scrape_interval_s
        self.window = SlidingWindow(settings.metrics_max_window_s, slot_s=settings.scrape_interval_s)
        self.collector = Collector(topology, self.window, interval_s=settings.scrape_interval_s)
        backend: Backend = (
            PrometheusBackend(prometheus_url, max_window_s=settings.metrics_max_window_s)
            if prometheus_url
            else BuiltinBackend(self.window)
        )
        self.query = MetricsQuery(backend, topology, max_window_s=settings.metrics_max_window_s)

    async def run(self) -> None:
        """Scrape every sidecar on the interval until cancelled."""
        await self.collector.run()

    def export_text(self) -> str:
        return render(self.window.latest(), self.topology())

    def prometheus_config(self) -> dict[str, Any]:
        return scrape_config(self.topology(), interval_s=self.interval_s)
