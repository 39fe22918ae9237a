"""Snapshots: content-hashed versions, interning, consistency checks (pure, no network)."""

from __future__ import annotations

from smimesh.testing.server_world import cluster, endpoints, listener, route, world
from smimesh.xds import type_urls as T
from smimesh.xds.snapshot import EntryInterner, Snapshot


def test_equal_content_gives_equal_versions_and_order_does_not_matter() -> None:
    one = world(1, 2)
    two = world(1, 2)
    two[T.CLUSTER] = list(reversed(two[T.CLUSTER] + [cluster("z")]))
    one[T.CLUSTER] = [*one[T.CLUSTER], cluster("z")]
    assert Snapshot.build(one).versions == Snapshot.build(two).versions
    assert Snapshot.build(one).same_content(Snapshot.build(two))


def test_a_change_moves_only_its_types_version() -> None:
    before, after = Snapshot.build(world(1, 2)), Snapshot.build(world(1, 2, tag="v2"))
    changed = {t for t in before.versions if before.version(t) != after.version(t)}
    assert changed == {T.ROUTE}
    assert before.entries(T.ROUTE)["local_route"].digest != after.entries(T.ROUTE)["local_route"].digest


def test_shared_messages_are_serialized_once_and_equal_content_shares_bytes() -> None:
    interner = EntryInterner()
    shared = cluster("shared")
    for index in range(100):
        Snapshot.build({T.CLUSTER: [shared, cluster(f"own-{index}")]}, interner=interner)
    assert interner.serializations == 101
    first, second = interner.entry(cluster("same")), interner.entry(cluster("same"))
    assert first is second  # two objects with one content: one entry, one bytes value


def test_type_urls_in_push_order() -> None:
    assert Snapshot.build(world(1, 2)).type_urls() == [T.CLUSTER, T.ENDPOINT, T.LISTENER, T.ROUTE]


def test_consistent_world_has_no_errors() -> None:
    assert Snapshot.build(world(1, 2)).consistency_errors() == []


def test_missing_route_config_and_endpoints_are_reported() -> None:
    resources = {
        T.LISTENER: [listener("ingress", 1, "nowhere")],
        T.ROUTE: [route("local_route", "backend", "v1")],
        T.CLUSTER: [cluster("backend"), cluster("lonely")],
        T.ENDPOINT: [endpoints("backend", 2)],
    }
    errors = Snapshot.build(resources).consistency_errors()
    assert [(e.name, e.missing_name) for e in errors] == [("ingress", "nowhere"), ("lonely", "lonely")]
    assert str(errors[0]) == "LDS 'ingress' references RDS 'nowhere', which the snapshot lacks"


def test_endpoint_name_comes_from_cluster_name() -> None:
    snapshot = Snapshot.build({T.ENDPOINT: [endpoints("backend", 2)]})
    assert list(snapshot.entries(T.ENDPOINT)) == ["backend"]
    assert snapshot.version(T.LISTENER) == ""


def test_messages_nobody_else_holds_are_released_and_held_ones_still_hit() -> None:
    """A message built afresh for one snapshot is not kept after the pass (memory per proxy); one a
    generator cache still holds is found again by identity, without serializing it again."""
    import gc

    interner = EntryInterner()
    kept = cluster("kept")  # like a generator's lru cache: this test holds it
    first = Snapshot.build({T.CLUSTER: [kept, cluster("fresh")]}, interner=interner)
    assert interner.release_unheld() == 1  # `fresh`: nobody but the interner held it
    gc.collect()
    Snapshot.build({T.CLUSTER: [kept]}, interner=interner)
    assert interner.serializations == 2  # `kept` hit by identity
    again = Snapshot.build({T.CLUSTER: [cluster("fresh")]}, interner=interner)
    assert interner.serializations == 3  # a new object with `fresh`'s content: serialized...
    assert again.entries(T.CLUSTER)["fresh"] is first.entries(T.CLUSTER)["fresh"]  # ...and shared
    assert interner.release_unheld() == 1


def test_equal_content_is_shared_only_while_some_snapshot_holds_it() -> None:
    import gc

    interner = EntryInterner()
    digest = (
        Snapshot.build({T.CLUSTER: [cluster("gone")]}, interner=interner).entries(T.CLUSTER)["gone"].digest
    )
    interner.release_unheld()
    gc.collect()
    assert digest not in interner._by_digest  # nothing holds it: not kept forever
