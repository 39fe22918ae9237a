"""`RuntimeLayers`: every node's snapshot carries its `smimesh` RTDS layer; a change of a node's
values is pushed to that node only, and an unchanged one to nobody."""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.service.runtime.v3 import rtds_pb2

from smimesh.server.runtime_layer import RuntimeLayers
from smimesh.xds import type_urls
from smimesh.xds.snapshot import Snapshot


def _layer(cache: RuntimeLayers, node: str) -> dict[str, float]:
    snapshot = cache.get_snapshot(node)
    assert snapshot is not None
    entry = snapshot.entries(type_urls.RUNTIME)["smimesh"]
    runtime = rtds_pb2.Runtime()
    entry.resource.Unpack(runtime)
    return dict(runtime.layer)


def test_values_reach_the_node_snapshot_and_only_its_watchers() -> None:
    cache = RuntimeLayers()
    base = Snapshot.build({type_urls.CLUSTER: [cluster_pb2.Cluster(name="c")]})
    told: list[str] = []
    cache.set_values("a", {"smimesh.tap": 100})  # before its first snapshot: kept for it
    for node in ("a", "b"):
        cache.set_snapshot(node, base)
    assert _layer(cache, "a") == {"smimesh.tap": 100} and _layer(cache, "b") == {}
    with cache.watch("a", lambda s: told.append("a")), cache.watch("b", lambda s: told.append("b")):
        cache.set_values("b", {"smimesh.tap": 100})
        cache.set_values("b", {"smimesh.tap": 100})  # unchanged: nobody told
        cache.set_values("a", {})
    assert told == ["b", "a"]
    assert _layer(cache, "a") == {} and _layer(cache, "b") == {"smimesh.tap": 100}
    assert cache.get_snapshot("a").entries(type_urls.CLUSTER) == base.entries(type_urls.CLUSTER)  # type: ignore[union-attr]
    cache.set_snapshot("b", base)  # a new config keeps the node's values
    assert _layer(cache, "b") == {"smimesh.tap": 100}
