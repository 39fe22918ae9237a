"""The Prometheus backend against a real Prometheus server (Debian's `prometheus` package).

The test starts Prometheus on a free loopback port with the scrape config smimesh generates
(`prometheus.yml` + a file_sd targets file),
sends a known pattern through two real sidecars, and asks the same SMI queries of both backends:
the counts must be equal; a Prometheus percentile may differ from the built-in one by at most the
width of the Prometheus bucket it falls in (Envoy's default buckets).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.settings import Settings
from smimesh.telemetry.collector import Collector
from smimesh.telemetry.edges import Topology
from smimesh.telemetry.prometheus_backend import PrometheusBackend
from smimesh.telemetry.quantiles import parse_quantity
from smimesh.telemetry.query import BuiltinBackend, MetricsQuery
from smimesh.telemetry.service import Telemetry
from smimesh.telemetry.window import SlidingWindow
from smimesh.testing.net import free_port, wait_until
from smimesh.testing.telemetry_traffic import pattern, send
from smimesh.testing.telemetry_world import scrape, two_sidecars, world_topology

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's `prometheus` (apt-get install prometheus)"),
]
DEFAULT_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


@contextmanager
def running_prometheus(topology: Topology, workdir: Path) -> Iterator[str]:
    port = free_port()
    # the way a user runs it: prometheus.yml + a file_sd targets file smimesh keeps up to date
    config = Telemetry(lambda: topology, Settings(scrape_interval_s=0.5)).write_prometheus_files(
        workdir / "prom"
    )
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(url), timeout=60, what="prometheus ready")
        wait_until(lambda: _targets_up(url) == len(topology.pods), timeout=30, what="both sidecars scraped")
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _targets_up(url: str) -> int:
    result = httpx.get(f"{url}/api/v1/query", params={"query": 'up{smimesh_instance!=""} == 1'}).json()
    return len(result["data"]["result"])


def metric(item: dict[str, Any], name: str) -> float:
    return parse_quantity(next(m["value"] for m in item["metrics"] if m["name"] == name))


def views(query: MetricsQuery) -> dict[str, dict[str, Any]]:
    async def ask() -> dict[str, dict[str, Any]]:
        edges = await query.edges("pods", "shop", "client-0", 300)
        service = await query.get("services", "shop", "store", 300)
        server = await query.get("deployments", "shop", "store", 300)
        assert edges is not None and edges.items and service is not None and server is not None
        return {"edge": edges.items[0].to_dict(), "service": service.to_dict(), "server": server.to_dict()}

    return asyncio.run(ask())


def counts(view: dict[str, dict[str, Any]]) -> dict[str, tuple[float, float]]:
    return {k: (metric(v, "success_count"), metric(v, "failure_count")) for k, v in view.items()}


def test_prometheus_backend_counts_equal_builtin(tmp_path: Path) -> None:
    with ExitStack() as stack:
        world = stack.enter_context(two_sidecars(tmp_path))
        topology = world_topology(world)
        url = stack.enter_context(running_prometheus(topology, tmp_path))
        window = SlidingWindow(300, 1.0)
        collector = Collector(lambda: topology, window)
        scrape(collector)
        sent = send(world.url, pattern(200))
        builtin = MetricsQuery(BuiltinBackend(window), lambda: topology)
        prometheus = MetricsQuery(PrometheusBackend(url), lambda: topology)
        expected = {k: (float(sent.successes), float(sent.failures)) for k in ("edge", "service", "server")}

        def builtin_counted() -> bool:
            scrape(collector)
            return counts(views(builtin)) == expected

        wait_until(builtin_counted, timeout=30, interval=0.3, what="built-in backend counted everything")
        time.sleep(1.5)  # let the histogram flush and a Prometheus scrape or two land
        wait_until(lambda: counts(views(prometheus)) == expected, timeout=30, interval=0.5, what="prometheus")
        ours, theirs = views(builtin), views(prometheus)
        assert counts(ours) == counts(theirs) == expected
        for name in ("p50_response_latency", "p90_response_latency", "p99_response_latency"):
            value, reference = metric(theirs["edge"], name), metric(ours["edge"], name)
            assert abs(value - reference) <= _bucket_width(value), (name, value, reference)


def _bucket_width(value: float) -> float:
    lower = 0.0
    for upper in DEFAULT_BUCKETS_MS:
        if value <= upper:
            return upper - lower
        lower = upper
    return float("inf")
