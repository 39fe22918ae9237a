"""Correctness with real Envoy: a known pattern of 600 requests, and what the SMI metrics API says.

Counts must match exactly. Percentiles are checked against the client's own measurements with
the bound the histograms imply (see `smimesh.telemetry.quantiles`): the API's value `v` lies in an
Envoy bin of width `w`, so for the client-measured quantile `c`:
    c - w - 1 ms - CLIENT_OVERHEAD_MS  <=  v  <=  c + w
(1 ms: Envoy records whole milliseconds, truncated; CLIENT_OVERHEAD_MS: the client's clock also
covers its own HTTP stack and the hop into the sidecar, which Envoy's upstream timer does not.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from smimesh.api.metrics_routes import PREFIX, routes
from smimesh.mesh.model import ServiceKey
from smimesh.telemetry.collector import Collector
from smimesh.telemetry.edges import Pod, Topology
from smimesh.telemetry.export import render
from smimesh.telemetry.quantiles import parse_quantity
from smimesh.telemetry.query import BuiltinBackend, MetricsQuery
from smimesh.telemetry.window import SlidingWindow
from smimesh.testing.net import free_port, wait_until
from smimesh.testing.telemetry_traffic import Sent, bin_width, pattern, send
from smimesh.testing.telemetry_world import (
    STORE,
    STORE_PORT,
    World,
    http_listener,
    running_envoy,
    scrape,
    sidecar_config,
    static_cluster,
    two_sidecars,
    world_topology,
)
from smimesh.xds import names

pytestmark = pytest.mark.timeout(180)
CLIENT_OVERHEAD_MS = 5.0


@dataclass
class Measured:
    world: World
    sent: Sent
    window: SlidingWindow
    collector: Collector
    query: MetricsQuery


def scrape_until_counted(measured: Measured, total: int) -> None:
    """Scrape until every request (counters and histogram samples) is in the window."""

    def counted() -> bool:
        scrape(measured.collector)
        totals = measured.window.totals(300, time.time()).values()
        return sum(t.success + t.failure for t in totals) == 2 * total and (
            sum(sum(t.bins.values()) for t in totals) == 2 * total
        )

    wait_until(counted, timeout=30, interval=0.3, what=f"{total} requests on both sidecars")


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Measured]:
    with ExitStack() as stack:
        world = stack.enter_context(two_sidecars(tmp_path_factory.mktemp("envoys")))
        topology = world_topology(world)
        window = SlidingWindow(max_window_s=300, slot_s=1.0)
        collector = Collector(lambda: topology, window)
        scrape(collector)  # baseline before any traffic
        sent = send(world.url, pattern())
        result = Measured(
            world, sent, window, collector, MetricsQuery(BuiltinBackend(window), lambda: topology)
        )
        scrape_until_counted(result, 600)
        yield result


def api_get(measured: Measured, path: str, **params: str) -> httpx.Response:
    """GET from the metrics routes in-process (the routes' own tests cover the HTTP details)."""
    app = Starlette(routes=routes(measured.query))

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            return await client.get(PREFIX + path, params=params)

    return asyncio.run(get())


def metric(item: dict[str, Any], name: str) -> float:
    return parse_quantity(next(m["value"] for m in item["metrics"] if m["name"] == name))


def test_counts_match_exactly_on_every_view(measured: Measured) -> None:
    assert (measured.sent.successes, measured.sent.failures) == (540, 60)
    edges = api_get(measured, "/namespaces/shop/pods/client-0/edges", window="5m").json()
    (edge,) = edges["items"]
    assert edge["edge"] == {
        "direction": "to",
        "side": "client",
        "resource": {"kind": "Pod", "namespace": "shop", "name": "store-0"},
    }
    server = api_get(measured, "/namespaces/shop/deployments/store", window="5m").json()
    service = api_get(measured, "/namespaces/shop/services/store", window="5m").json()
    assert server["edge"] == {"direction": "from", "side": "server"}
    for item in (edge, server, service):
        assert (metric(item, "success_count"), metric(item, "failure_count")) == (540, 60)


def test_percentiles_agree_with_client_within_bucket_bound(measured: Measured) -> None:
    edges = api_get(measured, "/namespaces/shop/pods/client-0/edges", window="5m").json()
    outbound = [t for s, t in measured.window.totals(300, time.time()).items() if s.direction == "out"]
    bins = outbound[0].latency_bins()
    for q in (0.5, 0.9, 0.99):
        value, client = (
            metric(edges["items"][0], f"p{round(q * 100)}_response_latency"),
            measured.sent.quantile(q),
        )
        width = bin_width(bins, value)
        assert width <= max(0.1, value * 0.1), (q, value, width)
        low = client - width - 1 - CLIENT_OVERHEAD_MS
        assert low <= value <= client + width, (q, value, client, width)


def test_prometheus_export_of_the_same_requests(measured: Measured) -> None:
    text = render(measured.window.latest(), world_topology(measured.world))
    samples = {
        (sample.name, sample.labels.get("response_class", ""), sample.labels.get("le", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("smimesh_client_requests_total", "2xx", "")] == 540
    assert samples[("smimesh_client_requests_total", "5xx", "")] == 60
    assert samples[("smimesh_server_requests_total", "5xx", "")] == 60
    assert samples[("smimesh_client_request_duration_milliseconds_bucket", "", "+Inf")] == 600
    slow = 600 - samples[("smimesh_client_request_duration_milliseconds_bucket", "", "100")]
    # Above 100 ms: every request of the 200 ms group, and at most the requests the client itself
    # measured above 100 ms (Envoy's upstream timer runs inside the client's), since on a loaded machine
    # a 50 ms request can take longer than 100 ms.
    assert pattern().count("/slow200") <= slow <= sum(1 for ms in measured.sent.latencies_ms if ms >= 100)
    assert 'source_workload="client"' in text and 'destination_service="store"' in text


def test_short_window_returns_only_recent_traffic(measured: Measured) -> None:
    time.sleep(3.5)  # the 600 requests are now older than a 2 s window (1 s slots)
    recent = send(measured.world.url, ["/"] * 20 + ["/fail"] * 2)
    scrape_until_counted(measured, 622)
    short = api_get(measured, "/namespaces/shop/services/store", window="2s").json()
    long = api_get(measured, "/namespaces/shop/services/store", window="5m").json()
    assert (
        (metric(short, "success_count"), metric(short, "failure_count"))
        == (20, 2)
        == (
            recent.successes,
            recent.failures,
        )
    )
    assert (metric(long, "success_count"), metric(long, "failure_count")) == (560, 62)
    assert short["window"] == "2s" and long["window"] == "5m0s"


def test_idle_edge_has_zero_counts(measured: Measured) -> None:
    time.sleep(2.5)
    scrape(measured.collector)
    edges = api_get(measured, "/namespaces/shop/deployments/client/edges", window="1s").json()
    (edge,) = edges["items"]
    assert edge["edge"]["resource"] == {"kind": "Deployment", "namespace": "shop", "name": "store"}
    assert {m["name"]: m["value"] for m in edge["metrics"]} == {
        "p99_response_latency": "0",
        "p90_response_latency": "0",
        "p50_response_latency": "0",
        "success_count": "0",
        "failure_count": "0",
    }


def test_service_key_of_the_world() -> None:
    assert ServiceKey("shop", "store") == STORE


def test_connection_failures_count_as_failures(tmp_path: Path) -> None:
    """Envoy answers 503 itself when the upstream refuses connections; that is a failure."""
    admin, listen, dead = free_port(), free_port(), free_port()
    cluster = names.outbound_cluster(STORE, STORE_PORT)
    config = sidecar_config(
        admin,
        http_listener(names.OUTBOUND_HTTP_LISTENER, listen, names.OUTBOUND_HTTP_STAT_PREFIX, cluster),
        static_cluster(cluster, dead),
    )
    with running_envoy(config, tmp_path, "lonely", listen):
        pod = Pod("client-0.shop", "shop", "client-0", "client", {}, admin)
        topology = Topology({pod.node_id: pod}, {STORE: frozenset()})
        window = SlidingWindow(300, 1.0)
        collector = Collector(lambda: topology, window)
        scrape(collector)
        sent = send(lambda path: f"http://127.0.0.1:{listen}{path}", ["/"] * 5)
        assert sent.statuses == [503] * 5
        scrape(collector)
        (totals,) = window.totals(300, time.time()).values()
        assert (totals.success, totals.failure) == (0, 5)
