"""proxy_view: frozen, hashable, and equal when only unrelated things changed (so no push)."""

from __future__ import annotations

import pytest

from smimesh.mesh import ServiceKey, build_model, proxy_view, visible_services
from smimesh.mesh.model import Identity
from smimesh.testing.bookstore import BUYER, THIEF, WAREHOUSE, bookstore_model, world, world_instances
from smimesh.xds import generate

UNRELATED = """
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: elsewhere}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: reviews, namespace: elsewhere, labels: {app: reviews}}
spec: {serviceAccount: reviews, replicas: 3, command: [x], ports: [{name: http, containerPort: 9080}]}
"""


def model_of(extra: str = "", replace: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    resources = world(extra, replace=replace)
    # Lay the bookstore out first so its ports stay the same whatever is added after it.
    instances = world_instances([r for r in resources if r.metadata.namespace == "bookstore"])
    others = world_instances([r for r in resources if r.metadata.namespace != "bookstore"], first_port=30000)
    return build_model(resources, instances + others)


def test_views_are_hashable_and_equal_across_rebuilds() -> None:
    first, second = proxy_view(model_of(), BUYER), proxy_view(model_of(), BUYER)
    assert first == second and hash(first) == hash(second)
    assert len({first, second}) == 1


def test_unrelated_service_leaves_every_bookstore_view_equal() -> None:
    before, after = model_of(), model_of(UNRELATED)
    for node in before.instances:
        assert proxy_view(before, node) == proxy_view(after, node), node


def test_weight_change_changes_only_the_callers_of_the_root() -> None:
    changed = """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  backends: [{service: bookstore-v1, weight: 50}, {service: bookstore-v2, weight: 50}]
"""
    before, after = model_of(), model_of(changed, replace=("TrafficSplit/bookstore",))
    differing = {n for n in before.instances if proxy_view(before, n) != proxy_view(after, n)}
    assert differing == {BUYER}


def test_new_backend_replica_changes_the_views_that_reach_it() -> None:
    more = """
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: warehouse-b, namespace: bookstore, labels: {app: warehouse}}
spec: {serviceAccount: warehouse, command: [x], ports: [{name: http, containerPort: 8080}]}
"""
    before, after = model_of(), model_of(more)
    differing = {n for n in before.instances if proxy_view(before, n) != proxy_view(after, n)}
    assert differing == {"bookstore-v1-0.bookstore", "bookstore-v1-1.bookstore", "bookstore-v2-0.bookstore"}


def test_visibility_follows_traffic_targets() -> None:
    model = bookstore_model()
    names = {k.name for k in visible_services(model, Identity("bookstore", "buyer"))}
    assert names == {"bookstore", "bookstore-v1", "bookstore-v2"}
    assert visible_services(model, Identity("bookstore", "thief")) == frozenset()
    assert {k.name for k in visible_services(model, Identity("bookstore", "bookstore"))} == {"warehouse"}
    permissive = bookstore_model(permissive=True)
    assert len(visible_services(permissive, Identity("bookstore", "thief"))) == 4


def test_views_share_pieces_and_generated_messages() -> None:
    model = bookstore_model()
    v1, v2 = proxy_view(model, "bookstore-v1-0.bookstore"), proxy_view(model, "bookstore-v1-1.bookstore")
    assert v1.outbound is v2.outbound
    first, second = generate(v1), generate(v2)
    for type_url in first:
        shared = [a is b for a, b in zip(first[type_url], second[type_url], strict=False)]
        if type_url.endswith(("Cluster", "ClusterLoadAssignment", "RouteConfiguration")):
            assert shared and all(shared[:1]), type_url


def test_unknown_node_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no workload instance"):
        proxy_view(bookstore_model(), "ghost.bookstore")


def test_view_holds_node_identity_and_ports() -> None:
    view = proxy_view(bookstore_model(), WAREHOUSE)
    assert view.node.spiffe == "spiffe://cluster.local/ns/bookstore/sa/warehouse"
    assert view.inbound[0].name == "http" and view.outbound.services == ()
    assert proxy_view(bookstore_model(), THIEF).outbound.clusters == ()
    assert ServiceKey("bookstore", "warehouse") not in {
        s.key for s in proxy_view(bookstore_model(), BUYER).outbound.services
    }
