"""`trafficsplits` in the metrics API (issue 14): a split's root sums what callers sent to its
backends; its edges are one item per backend; `smimesh stat trafficsplit` reads them."""

from __future__ import annotations

import asyncio
import time

from smimesh.telemetry.edges import OUTBOUND, Reading, Series, Topology
from smimesh.telemetry.query import BuiltinBackend, MetricsQuery
from smimesh.telemetry.window import SlidingWindow
from smimesh.testing.bookstore import BUYER, bookstore_model


def _query() -> MetricsQuery:
    topology = Topology.from_model(bookstore_model())
    window, now = SlidingWindow(300, 1), time.time()
    sent = {"bookstore/bookstore-v1": (8, 1), "bookstore/bookstore-v2": (2, 0), "bookstore/buyer": (5, 0)}
    readings = {Series(OUTBOUND, BUYER, target): Reading(ok, failed) for target, (ok, failed) in sent.items()}
    window.observe(BUYER, {s: Reading() for s in readings}, now - 2)
    window.observe(BUYER, readings, now - 1)
    return MetricsQuery(BuiltinBackend(window), lambda: topology)


def _counts(item: object) -> tuple[str, str]:
    values = {m.name: m.value for m in item.metrics}  # type: ignore[attr-defined]
    return values["success_count"], values["failure_count"]


def test_the_root_sums_its_backends() -> None:
    root = asyncio.run(_query().get("trafficsplits", "bookstore", "bookstore", 60))
    assert root is not None and root.resource.kind == "TrafficSplit"
    assert _counts(root) == ("10", "1")
    listed = asyncio.run(_query().list("trafficsplits", "bookstore", 60))
    assert [i.resource.name for i in listed.items or ()] == ["bookstore"]


def test_edges_are_the_backends() -> None:
    edges = asyncio.run(_query().edges("trafficsplits", "bookstore", "bookstore", 60))
    assert edges is not None
    found = {e.edge.resource.name: _counts(e) for e in edges.items or () if e.edge and e.edge.resource}
    assert found == {"bookstore-v1": ("8", "1"), "bookstore-v2": ("2", "0")}
    assert {e.edge.direction for e in edges.items or () if e.edge} == {"to"}


def test_an_unknown_split_is_none() -> None:
    assert asyncio.run(_query().get("trafficsplits", "bookstore", "nope", 60)) is None
    assert asyncio.run(_query().edges("trafficsplits", "bookstore", "nope", 60)) is None
