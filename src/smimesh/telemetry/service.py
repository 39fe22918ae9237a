"""Telemetry as one object for the runtime: the window, the collector, the query, the export.

    telemetry = Telemetry(lambda: Topology.from_model(current_model()), settings)
    task = asyncio.create_task(telemetry.run())        # owned and cancelled by the runtime
    create_app(..., metrics_query=telemetry.query)     # the SMI metrics API
    telemetry.export_text()                            # appended to the control plane's /metrics

With `prometheus_url`, queries go to that Prometheus server instead (`--metrics-backend
prometheus`); the built-in collector still runs so `export_text()` keeps working, and
`prometheus_config()` / `write_prometheus_files(dir)` is the scrape config to give that server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from smimesh.settings import Settings
from smimesh.telemetry.collector import Collector
from smimesh.telemetry.edges import Topology
from smimesh.telemetry.export import render
from smimesh.telemetry.prometheus_backend import PrometheusBackend, scrape_config, scrape_targets
from smimesh.telemetry.query import Backend, BuiltinBackend, MetricsQuery
from smimesh.telemetry.routes import RouteQuery
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
        # per-route figures and denials are read by the built-in collector only
        self.routes = RouteQuery(BuiltinBackend(self.window), topology)

    async def run(self) -> None:
        """Scrape every sidecar on the interval until cancelled."""
        await self.collector.run()

    def export_text(self) -> str:
        return render(self.window.latest(), self.topology())

    def prometheus_config(self) -> dict[str, Any]:
        return scrape_config(self.topology(), interval_s=self.interval_s)

    def write_prometheus_files(self, directory: Path) -> Path:
        """`prometheus.yml` + `sidecars.json` (file_sd targets) in `directory`; call again when the
        instances change (Prometheus re-reads the targets file by itself). Returns the config path."""
        directory.mkdir(parents=True, exist_ok=True)
        targets, config = directory / "sidecars.json", directory / "prometheus.yml"
        _replace(targets, json.dumps(scrape_targets(self.topology()), indent=2))
        _replace(
            config,
            yaml.safe_dump(scrape_config(self.topology(), interval_s=self.interval_s, targets_file=targets)),
        )
        return config


def _replace(path: Path, text: str) -> None:
    """Write by rename, so Prometheus never reads half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
