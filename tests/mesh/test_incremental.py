"""Rebuilding the model reuses what did not change, and never serves anything stale."""

from __future__ import annotations

from dataclasses import replace

from smimesh.mesh import Identity, ServiceKey, build_model, evaluate_access, proxy_view
from smimesh.testing.bookstore import BUYER, load_world, world, world_instances

ROOT = ServiceKey("bookstore", "bookstore")
WAREHOUSE = ServiceKey("bookstore", "warehouse")


def test_unchanged_inputs_reuse_services_policies_and_view_pieces() -> None:
    resources = world()
    instances = world_instances(resources)
    first, second = build_model(resources, instances), build_model(resources, instances)
    assert first.services[ROOT] is second.services[ROOT]
    assert all(a is b for a, b in zip(first.policies, second.policies, strict=True))
    assert proxy_view(first, BUYER).outbound is proxy_view(second, BUYER).outbound


def test_new_replica_reaches_the_reused_service_resource() -> None:
    resources = world()
    instances = world_instances(resources)
    before = build_model(resources, instances)
    more = world_instances(resources, first_port=40000)
    extra = replace(next(i for i in more if i.workload == "warehouse"), name="warehouse-1", node_id="")
    after = build_model(resources, [*instances, extra])
    assert len(after.services[WAREHOUSE].ports[0].endpoints) == 2
    assert len(before.services[WAREHOUSE].ports[0].endpoints) == 1


def test_edited_route_group_is_not_served_from_the_policy_cache() -> None:
    resources = world()
    instances = world_instances(resources)
    buyer = Identity("bookstore", "buyer")
    assert evaluate_access(build_model(resources, instances), buyer, ROOT, 80, "GET", "/books").allowed
    edited = load_world("""
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: bookstore-routes, namespace: bookstore}
spec:
  matches: [{name: books, pathRegex: /catalogue, methods: [GET]}]
""")
    swapped = [r for r in resources if r.metadata.name != "bookstore-routes"] + edited
    model = build_model(swapped, instances)
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
    first, second = build_model(resources, instances), build_model(resources, instances)
    assert [d.code for d in first.diagnostics] == [d.code for d in second.diagnostics] == ["SM6010"]
