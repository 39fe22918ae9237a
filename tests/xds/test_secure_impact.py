"""`secure_affected_nodes`: exact for the secured view `smimesh up` serves. A secured view it leaves
out never changes (random chains of changes, with and without an audit namespace), and the common
changes reach only who they must: a Service nobody may call reaches no sidecar, a new replica its
own sidecar and its services' allowed callers, a TrafficTarget source its destination and that
source."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from tests.mesh.test_impact import _initial, _instances, _model, _mutate, _target  # the plain index's world

from smimesh.mesh.model import MeshModel
from smimesh.mesh.modes import DEFAULT_MODES, MeshModes, NamespaceMode
from smimesh.xds.secure_impact import secure_affected_nodes
from smimesh.xds.security import SecureView, secure_view

AUDITED = MeshModes(namespaces=(NamespaceMode("ns1", audit=True),))


def _view(model: MeshModel, node: str, modes: MeshModes) -> SecureView:
    return secure_view(model, node, modes, lambda _identity: None)


def _changed(before: MeshModel, after: MeshModel, modes: MeshModes) -> set[str]:
    """The nodes whose secured view really differs (recomputed), among the nodes of `after`."""
    both = set(before.instances) & set(after.instances)
    return {n for n in both if _view(before, n, modes) != _view(after, n, modes)}


def _affected(before: MeshModel, after: MeshModel, modes: MeshModes = DEFAULT_MODES) -> frozenset[str] | None:
    return secure_affected_nodes(before, after, modes.audit_namespaces)


def _check_chain(
    rng: random.Random, world: dict[Any, Any], instances: list[Any], modes: MeshModes
) -> tuple[int, int]:
    """Random changes; every secured view the index leaves out must be equal. (views checked, Nones)"""
    old = _model(world, instances)
    checked = everyone = 0
    for step in range(60):
        _mutate(rng, world, instances, step)
        new = _model(world, instances)
        affected = _affected(old, new, modes)
        everyone += affected is None
        for node in set(new.instances) - (affected or set(new.instances)):
            assert _view(old, node, modes) == _view(new, node, modes), (step, node)
            checked += 1
        old = new
    return checked, everyone


@pytest.mark.parametrize(
    ("seed", "modes"), [(s, DEFAULT_MODES) for s in range(5)] + [(9, AUDITED), (10, AUDITED)]
)
def test_a_secured_view_left_out_never_changes(seed: int, modes: MeshModes) -> None:
    rng = random.Random(seed)
    checked, everyone = _check_chain(rng, _initial(rng), _instances(), modes)
    assert checked > 0  # it does leave views out
    if modes is DEFAULT_MODES:
        assert everyone == 0  # without audit, no Service, endpoint or split change is everyone's


def _lonely(world: dict[Any, Any], namespace: str) -> None:
    world["Service", namespace, "lonely"] = {
        "metadata": {"name": "lonely", "namespace": namespace},
        "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
    }


def test_a_service_nobody_may_call_reaches_no_sidecar() -> None:
    world, instances = _initial(random.Random(6)), _instances()
    before = _model(world, instances)
    _lonely(world, "elsewhere")
    after = _model(world, instances)
    assert _affected(before, after) == frozenset()
    assert _changed(before, after, DEFAULT_MODES) == set()


def test_a_service_of_an_audit_namespace_reaches_every_sidecar() -> None:
    """Every caller reaches an audit namespace's services (their RBAC logs the would-be denials)."""
    world, instances = _initial(random.Random(6)), _instances()
    before = _model(world, instances)
    _lonely(world, "ns1")
    after = _model(world, instances)
    assert _affected(before, after, AUDITED) is None
    assert _changed(before, after, AUDITED) == set(after.instances)
    assert _affected(before, after) == frozenset()  # ns1 not in audit: nobody may call it


def _allowed_callers(model: MeshModel, node: str) -> set[str]:
    """The nodes some TrafficTarget lets reach an endpoint identity of a service selecting `node`."""
    services = [
        s for s in model.services.values() if any(e.node_id == node for p in s.ports for e in p.endpoints)
    ]
    identities = {i for s in services for i in s.identities}
    sources = {s for p in model.policies if p.destination in identities for s in p.sources}
    return {n for n, i in model.instances.items() if i.identity in sources}


def test_a_new_replica_reaches_itself_and_only_the_allowed_callers() -> None:
    world, instances = _initial(random.Random(2)), _instances()
    for key in [k for k in world if k[0] == "TrafficSplit"]:
        del world[key]  # (a split widens "callers" to those of its root and other backends)
    before = _model(world, instances)
    inbound = tuple(replace(p, sidecar_port=p.sidecar_port + 5_000) for p in instances[0].inbound)
    extra = replace(instances[0], name="w0-extra", node_id="", admin_port=45_000, inbound=inbound)
    after = _model(world, [*instances, extra])
    affected = _affected(before, after)
    callers = _allowed_callers(after, extra.node_id)
    assert affected is not None and callers and affected == callers | {extra.node_id}
    assert len(affected) < len(after.instances)
    assert _changed(before, after, DEFAULT_MODES) == callers - {extra.node_id}  # their endpoints grew


def test_a_traffic_target_source_reaches_its_destination_and_that_source() -> None:
    world, instances = _initial(random.Random(5)), _instances()
    before = _model(world, instances)
    target = _target(random.Random(77), 1)
    old_sources = {
        (s["namespace"], s["name"]) for s in world["TrafficTarget", "ns1", "tt1"]["spec"]["sources"]
    }
    added = next(
        {"kind": "ServiceAccount", "name": f"sa{sa}", "namespace": ns}
        for sa in range(5)
        for ns in ("ns0", "ns1")
        if (ns, f"sa{sa}") not in old_sources and sa != 1
    )
    target["spec"]["sources"] = [*world["TrafficTarget", "ns1", "tt1"]["spec"]["sources"], added]
    world["TrafficTarget", "ns1", "tt1"] = target
    after = _model(world, instances)
    affected = _affected(before, after)
    destination = {
        n for n, i in after.instances.items() if (i.namespace, i.service_account) == ("ns1", "sa1")
    }
    source = {
        n
        for n, i in after.instances.items()
        if (i.namespace, i.service_account) == (added["namespace"], added["name"])
    }
    assert affected is not None and destination <= affected and affected <= destination | source
    assert _changed(before, after, AUDITED) <= affected


def _pods(seed: int) -> tuple[dict[Any, Any], list[Any]]:
    """The same world as pods: transparent sidecars, and Services with a ClusterIP (every sidecar
    answers at the ClusterIPs it may not call: `view.closed`)."""
    world, instances = _initial(random.Random(seed)), [replace(i, transparent=True) for i in _instances()]
    for n, key in enumerate(k for k in sorted(world) if k[0] == "Service"):
        world[key]["spec"]["clusterIP"] = f"10.96.0.{n + 1}"
    return world, instances


@pytest.mark.parametrize("seed", range(3))
def test_a_transparent_secured_view_left_out_never_changes(seed: int) -> None:
    world, instances = _pods(50 + seed)
    checked, _everyone = _check_chain(random.Random(seed), world, instances, DEFAULT_MODES)
    assert checked > 0


def test_in_pods_endpoint_churn_stays_exact_and_a_new_cluster_ip_reaches_every_sidecar() -> None:
    world, instances = _pods(7)
    before = _model(world, instances)
    assert any(list(_view(before, n, DEFAULT_MODES).base.closed or ()) for n in before.instances)
    inbound = tuple(replace(p, sidecar_port=p.sidecar_port + 5_000) for p in instances[0].inbound)
    extra = replace(instances[0], name="w0-extra", node_id="", admin_port=45_000, inbound=inbound)
    churned = _model(world, [*instances, extra])
    affected = _affected(before, churned)
    assert affected is not None and len(affected) < len(churned.instances)
    _lonely(world, "elsewhere")
    world["Service", "elsewhere", "lonely"]["spec"]["clusterIP"] = "10.96.1.1"
    after = _model(world, instances)
    assert _affected(before, after) == frozenset(after.instances)
    assert _changed(before, after, DEFAULT_MODES) == set(after.instances)  # each answers 403 there now
