"""The dashboard's graph on the bookstore model: traffic figures, split share, denied / audit / allowed
edges, the TrafficTargets on an edge, the namespace filter."""

from __future__ import annotations

from smimesh.telemetry.edges import OUTBOUND, Series
from smimesh.telemetry.graph import build_graph
from smimesh.telemetry.window import Totals
from smimesh.testing.bookstore import bookstore_model

THIEF = "spiffe://cluster.local/ns/bookstore/sa/thief"


def _totals(success: float, failure: float) -> Totals:
    return Totals(success, failure, {(10.0, 1.0): success + failure})


def test_the_bookstore_graph() -> None:
    model = bookstore_model()
    totals = {
        Series(OUTBOUND, "buyer-0.bookstore", "bookstore/bookstore-v1"): _totals(89, 1),
        Series(OUTBOUND, "buyer-0.bookstore", "bookstore/bookstore-v2"): _totals(10, 0),
        Series(OUTBOUND, "bookstore-v1-0.bookstore", "bookstore/warehouse"): _totals(0, 0),
    }
    denied = [
        (THIEF, "bookstore-v1-1.bookstore", 3.0),
        ("spiffe://cluster.local/ns/x/sa/ghost", "warehouse-0.bookstore", 1),
    ]
    audited = [(THIEF, "warehouse-0.bookstore", 2.0)]
    graph = build_graph(model, totals, 30.0, denied, None, audited)
    edges = {e["id"]: e for e in graph["edges"]}
    v1 = edges["traffic:workload/bookstore/buyer->service/bookstore/bookstore-v1"]
    assert (v1["requests"], v1["success_rate"], v1["rps"], v1["health"]) == (90, 98.9, 3.0, "warn")
    assert v1["policies"] == ["TrafficTarget/bookstore/buyer-to-bookstore"]
    assert edges["traffic:workload/bookstore/bookstore-v1->service/bookstore/warehouse"]["health"] == "idle"
    share = edges["split:service/bookstore/bookstore->service/bookstore/bookstore-v2"]
    assert (share["weight"], share["observed_share"]) == (10.0, 10.0)
    assert edges["denied:workload/bookstore/thief->workload/bookstore/bookstore-v1"]["requests"] == 3
    assert edges["audit:workload/bookstore/thief->workload/bookstore/warehouse"]["requests"] == 2
    ghost = "denied:identity/spiffe://cluster.local/ns/x/sa/ghost->workload/bookstore/warehouse"
    assert ghost in edges and any(n["kind"] == "identity" for n in graph["nodes"])
    # buyer sent to the split's backends, so the root it is allowed to call counts as used; the
    # bookstore workloads are allowed to call the warehouse and v2 did not: a faint edge.
    assert "allowed:workload/bookstore/buyer->service/bookstore/bookstore" not in edges
    assert "allowed:workload/bookstore/bookstore-v2->service/bookstore/warehouse" in edges
    assert "allowed:workload/bookstore/bookstore-v1->service/bookstore/warehouse" in edges  # idle: 0 requests
    assert {n["id"] for n in build_graph(model, totals, 30.0, [], "elsewhere")["nodes"]} == set()
