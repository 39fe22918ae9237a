"""Rebuilding the model reuses what did not change, and never serves anything stale."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from smimesh.mesh import Identity, ServiceKey, build_model, evaluate_access, proxy_view
from smimesh.testing.bookstore import BUYER, load_world, world, world_instances

ROOT = ServiceKey("bookstore", "bookstore")
WAREHOUSE = ServiceKey("bookstore", "warehouse")
EDITED_ROUTES = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: bookstore-routes, namespace: bookstore}
spec:
  matches: [{name: books, pathRegex: /catalogue, methods: [GET]}]
"""


def _edited_routes(resources: list[Any]) -> list[Any]:
    """`resources` with the bookstore's route group allowing /catalogue instead of /books."""
    return [r for r in resources if r.metadata.name != "bookstore-routes"] + load_world(EDITED_ROUTES)


def test_unchanged_inputs_reuse_services_policies_and_view_pieces() -> None:
    resources = world()
    instances = world_instances(resources)
    first = build_model(resources, instances)
    second = build_model(resources, instances, previous=first.build_state)
    assert first.services[ROOT] is second.services[ROOT]
    assert all(a is b for a, b in zip(first.policies, second.policies, strict=True))
    assert proxy_view(first, BUYER).outbound is proxy_view(second, BUYER).outbound


def test_new_replica_reaches_the_reused_service_resource() -> None:
    resources = world()
    instances = world_instances(resources)
    before = build_model(resources, instances)
    more = world_instances(resources, first_port=40000)
    extra = replace(next(i for i in more if i.workload == "warehouse"), name="warehouse-1", node_id="")
    after = build_model(resources, [*instances, extra], previous=before.build_state)
    assert len(after.services[WAREHOUSE].ports[0].endpoints) == 2
    assert len(before.services[WAREHOUSE].ports[0].endpoints) == 1


def test_edited_route_group_is_not_served_from_the_policy_cache() -> None:
    resources = world()
    instances = world_instances(resources)
    buyer = Identity("bookstore", "buyer")
    first = build_model(resources, instances)
    assert evaluate_access(first, buyer, ROOT, 80, "GET", "/books").allowed
    swapped = _edited_routes(resources)
    model = build_model(swapped, instances, previous=first.build_state)
    assert not evaluate_access(model, buyer, ROOT, 80, "GET", "/books").allowed
    assert evaluate_access(model, buyer, ROOT, 80, "GET", "/catalogue").allowed


def test_cached_diagnostics_are_reported_again() -> None:
    extra = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: sloppy, namespace: elsewhere}
spec:
  destination: {kind: ServiceAccount, name: warehouse, namespace: bookstore}
  rules: [{kind: HTTPRouteGroup, name: warehouse-routes}]
  sources: [{kind: ServiceAccount, name: buyer, namespace: bookstore}]
"""
    resources = world(extra)
    instances = world_instances(resources)
    first = build_model(resources, instances)
    second = build_model(resources, instances, previous=first.build_state)
    assert [d.code for d in first.diagnostics] == [d.code for d in second.diagnostics] == ["SM6010"]


def test_builds_without_a_previous_state_share_nothing() -> None:
    """Reuse is only what is passed in: two cold builds of the same inputs share no view piece (no
    module-level cache links them), while a build given the first one's state does."""
    resources = world()
    instances = world_instances(resources)
    first, cold = build_model(resources, instances), build_model(resources, instances)
    warm = build_model(resources, instances, previous=first.build_state)
    assert proxy_view(first, BUYER).outbound == proxy_view(cold, BUYER).outbound
    assert proxy_view(first, BUYER).outbound is not proxy_view(cold, BUYER).outbound
    assert proxy_view(first, BUYER).outbound is proxy_view(warm, BUYER).outbound
    assert first.services[ROOT] is not cold.services[ROOT]


def test_two_chains_of_builds_do_not_influence_each_other() -> None:
    """Two chains (two pipelines' states) in one process, interleaved: each chain's models equal a
    cold build of its own inputs, whatever the other chain built in between."""
    plain = world()
    swapped = _edited_routes(plain)
    instances = world_instances(plain)
    a = build_model(plain, instances)
    b = build_model(swapped, instances)
    for _ in range(3):
        a = build_model(plain, instances, previous=a.build_state)
        b = build_model(swapped, instances, previous=b.build_state)
        assert a == build_model(plain, instances) and b == build_model(swapped, instances)
        assert proxy_view(a, BUYER) == proxy_view(build_model(plain, instances), BUYER)
    buyer = Identity("bookstore", "buyer")
    assert evaluate_access(a, buyer, ROOT, 80, "GET", "/books").allowed
    assert not evaluate_access(b, buyer, ROOT, 80, "GET", "/books").allowed
    assert a.build_state is not None and b.build_state is not None
    assert a.build_state.views is not b.build_state.views
