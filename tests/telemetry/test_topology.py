"""The topology built from the mesh model, edge peers on the bookstore world, and scrape failures."""

from __future__ import annotations

import asyncio
import time

import httpx

from smimesh.telemetry.collector import Collector
from smimesh.telemetry.edges import OUTBOUND, Pod, Reading, Series, Topology
from smimesh.telemetry.query import BuiltinBackend, MetricsQuery
from smimesh.telemetry.window import SlidingWindow
from smimesh.testing.bookstore import BUYER, bookstore_model
from smimesh.testing.net import free_port


def test_topology_from_the_bookstore_model() -> None:
    topology = Topology.from_model(bookstore_model())
    assert topology.pods[BUYER].workload == "buyer"
    services = {
        str(key): {topology.pods[n].workload for n in nodes} for key, nodes in topology.service_pods.items()
    }
    assert services["bookstore/bookstore-v1"] == {"bookstore-v1"}
    assert services["bookstore/bookstore"] == {"bookstore-v1", "bookstore-v2"}


def test_edge_peers_follow_the_services_workloads() -> None:
    topology = Topology.from_model(bookstore_model())
    window, now = SlidingWindow(300, 1), time.time()
    sent = {"bookstore/bookstore-v1": (8, 1), "bookstore/bookstore-v2": (2, 0), "bookstore/bookstore": (5, 0)}
    readings = {Series(OUTBOUND, BUYER, target): Reading(ok, failed) for target, (ok, failed) in sent.items()}
    window.observe(BUYER, {s: Reading() for s in readings}, now - 2)
    window.observe(BUYER, readings, now - 1)
    query = MetricsQuery(BuiltinBackend(window), lambda: topology)
    edges = asyncio.run(query.edges("deployments", "bookstore", "buyer", 60))
    assert edges is not None and edges.items is not None
    peers = {
        (e.edge.resource.kind, e.edge.resource.name): e.metrics[3].value
        for e in edges.items
        if e.edge and e.edge.resource
    }
    assert peers == {
        ("Deployment", "bookstore-v1"): "8",
        ("Deployment", "bookstore-v2"): "2",
        ("Service", "bookstore"): "5",
    }
    v1 = asyncio.run(query.edges("deployments", "bookstore", "bookstore-v1", 60))
    assert v1 is not None and [
        (e.edge.direction, e.edge.resource.name) for e in v1.items or () if e.edge and e.edge.resource
    ] == [("from", "buyer")]


def test_a_sidecar_that_does_not_answer_is_reported_not_raised() -> None:
    pod = Pod("gone-0.ns", "ns", "gone-0", "gone", {}, free_port())
    window = SlidingWindow(300, 1)
    collector = Collector(lambda: Topology({pod.node_id: pod}), window)

    async def one_round() -> None:
        async with httpx.AsyncClient() as client:
            await collector.scrape_round(client)

    asyncio.run(one_round())
    assert "could not read Envoy stats" in collector.errors[pod.node_id]
    assert window.totals(300, time.time()) == {}
