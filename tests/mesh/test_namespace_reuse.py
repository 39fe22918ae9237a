"""`build_model` takes a namespace's Services whole from `previous` when its Service resources are the
same and none of its instances changed, and its resolved TrafficTargets when its TrafficTargets and
route objects are the same: over random chains of changes (the inputs as the store hands
them over: `InputSnapshot.updated`, unchanged objects identical, some re-decoded equal), a warm build
from ANY earlier state equals a cold build, and the namespaces a change did not touch are reused."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smimesh.diagnostics import Location
from smimesh.mesh import Instance, MeshModel, build_model
from smimesh.mesh.impact import affected_nodes
from smimesh.mesh.instances import counter, instances_from_workloads
from smimesh.mesh.udp import has_udp
from smimesh.resources import InputSnapshot, ResourceKey
from smimesh.resources.access import TrafficTarget
from smimesh.resources.core import Service
from smimesh.resources.specs import HTTPRouteGroup

NAMESPACES = ("ns0", "ns1", "ns2")


def _service(ns: str, name: str, app: int, port: int = 8080, protocol: str = "http") -> Service:
    spec = {"selector": {"app": f"w{app}"}, "ports": [{"name": protocol, "port": 80, "targetPort": port}]}
    return Service.model_validate({"metadata": {"name": name, "namespace": ns}, "spec": spec})


def _target(ns: str, name: str, destination: int, source: int) -> TrafficTarget:
    spec = {
        "destination": {"kind": "ServiceAccount", "name": f"sa{destination}", "namespace": ns},
        "sources": [{"kind": "ServiceAccount", "name": f"sa{source}", "namespace": NAMESPACES[source % 3]}],
        "rules": [{"kind": "HTTPRouteGroup", "name": "routes"}],
    }
    return TrafficTarget.model_validate({"metadata": {"name": name, "namespace": ns}, "spec": spec})


def _routes(ns: str, port: int) -> HTTPRouteGroup:
    spec = {"matches": [{"name": "m", "pathRegex": f"/p{port}"}]}
    return HTTPRouteGroup.model_validate({"metadata": {"name": "routes", "namespace": ns}, "spec": spec})


def _instances() -> list[Instance]:
    workloads = [
        (NAMESPACES[i % 3], f"w{i}", f"sa{i}", {"app": f"w{i}"}, 1, [("http", 8080), ("db", 9000)])
        for i in range(6)
    ]
    return instances_from_workloads(workloads, counter(31_000))


# A change: (what, namespace index, service name index, workload index, port choice)
CHANGES = st.tuples(
    st.sampled_from(["put", "redecode", "delete", "scale", "shrink", "relabel",
                     "target", "routes", "unroute", "udp"]),
    st.integers(0, 2), st.integers(0, 3), st.integers(0, 5), st.sampled_from([8080, 9000, 7000]),
)  # fmt: skip


def _apply(
    change: tuple[str, int, int, int, int], snapshot: InputSnapshot, instances: list[Instance], step: int
) -> InputSnapshot:
    what, ns_index, name_index, app, port = change
    key = ResourceKey("Service", NAMESPACES[ns_index], f"s{name_index}")
    if what in ("put", "udp"):
        protocol = "udp-dns" if what == "udp" else "http"
        return snapshot.updated({key: (_service(key.namespace, key.name, app, port, protocol), Location())})
    if what == "redecode" and (found := snapshot.get(key)) is not None:  # an equal, new object
        return snapshot.updated({key: (Service.model_validate(found.model_dump(by_alias=True)), Location())})
    if what == "delete":
        return snapshot.updated({key: None})
    if what == "target":
        target = _target(key.namespace, key.name, app, name_index)
        return snapshot.updated({target.key: (target, Location())})
    if what in ("routes", "unroute"):
        routes = _routes(key.namespace, port)
        return snapshot.updated({routes.key: (routes, Location()) if what == "routes" else None})
    template = instances[app % len(instances)]
    if what == "scale":
        instances.append(
            replace(template, name=f"{template.workload}-x{step}", node_id="", admin_port=41_000 + step)
        )
    elif what == "shrink" and len(instances) > 1:
        instances.remove(template)
    elif what == "relabel":
        instances[app % len(instances)] = replace(template, labels=(("app", f"w{(app + 1) % 6}"),))
    return snapshot


def _stateless(model: MeshModel) -> MeshModel:
    return replace(model, build_state=None, _memo={})


def _namespaces(model: MeshModel) -> dict[str, Any]:
    assert model.build_state is not None
    return dict(model.build_state.namespaces)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CHANGES, min_size=1, max_size=12), st.data())
def test_warm_builds_from_any_earlier_state_equal_cold_ones(changes: list, data: Any) -> None:
    instances = _instances()
    snapshot = InputSnapshot.from_resources(
        [_service(ns, f"s{n}", (i + n) % 6) for i, ns in enumerate(NAMESPACES) for n in range(3)]
        + [_target(ns, "t", i, i + 1) for i, ns in enumerate(NAMESPACES)]
        + [_routes(ns, 80) for ns in NAMESPACES[:2]]
    )
    built = [build_model(snapshot, instances)]
    for step, change in enumerate(changes):
        snapshot = _apply(change, snapshot, instances, step)
        earlier = built[data.draw(st.integers(0, len(built) - 1), label="previous build")]
        warm = build_model(snapshot, instances, previous=earlier.build_state)
        cold = build_model(InputSnapshot.from_resources(snapshot.resources()), list(instances))
        assert warm == cold, step
        assert warm.diagnostics == cold.diagnostics and warm.inbound_protocols == cold.inbound_protocols
        assert list(warm.services) == list(cold.services), "the same order as a cold build"
        assert warm.policies == cold.policies  # (in the model's equality too; said for the reader)
        # The impact index compares the services namespace by namespace: as it does without the groups.
        assert affected_nodes(earlier, warm) == affected_nodes(_stateless(earlier), _stateless(warm))
        assert has_udp(warm) == has_udp(_stateless(warm))
        built.append(warm)


def test_a_change_in_one_namespace_reuses_the_others_whole() -> None:
    instances = _instances()
    snapshot = InputSnapshot.from_resources([_service(ns, "s0", i) for i, ns in enumerate(NAMESPACES)])
    first = build_model(snapshot, instances)
    added = snapshot.updated({ResourceKey("Service", "ns1", "new"): (_service("ns1", "new", 1), Location())})
    second = build_model(added, instances, previous=first.build_state)
    before, after = _namespaces(first), _namespaces(second)
    assert after["ns0"] is before["ns0"] and after["ns2"] is before["ns2"]
    assert after["ns1"] is not before["ns1"] and set(after["ns1"].services) == {("ns1", "new"), ("ns1", "s0")}
    assert after["ns1"].entries[("ns1", "s0")] is before["ns1"].entries[("ns1", "s0")]
    moved = [*instances, replace(instances[2], name="w2-x", node_id="", admin_port=42_000)]  # w2 is in ns2
    third = build_model(added, moved, previous=second.build_state)
    assert _namespaces(third)["ns0"] is after["ns0"] and _namespaces(third)["ns2"] is not after["ns2"]
    assert len(third.services[("ns2", "s0")].ports[0].endpoints) == 2


def test_a_target_changed_in_one_namespace_reuses_the_others_policies_whole() -> None:
    targets = [_target(ns, "t", i, i + 1) for i, ns in enumerate(NAMESPACES)]
    snapshot = InputSnapshot.from_resources([*targets, *(_routes(ns, 80) for ns in NAMESPACES)])
    first = build_model(snapshot, _instances())
    edited = _routes("ns1", 81)
    second = build_model(
        snapshot.updated({edited.key: (edited, Location())}), _instances(), previous=first.build_state
    )
    assert first.build_state is not None and second.build_state is not None
    before, after = first.build_state.policy_namespaces, second.build_state.policy_namespaces
    assert (
        after["ns0"] is before["ns0"] and after["ns2"] is before["ns2"] and after["ns1"] is not before["ns1"]
    )
    assert [m.match.path_regex for p in second.policies if p.namespace == "ns1" for m in p.http] == ["/p81"]
