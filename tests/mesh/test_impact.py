"""`affected_nodes`: a view it leaves out never changes, checked over random chains of changes."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smimesh.mesh import Instance, MeshModel, build_model, proxy_view
from smimesh.mesh.impact import affected_nodes
from smimesh.mesh.instances import counter, instances_from_workloads
from smimesh.resources.access import TrafficTarget
from smimesh.resources.core import Service
from smimesh.resources.specs import HTTPRouteGroup
from smimesh.resources.split import TrafficSplit

NAMESPACES, WORKLOADS, ACCOUNTS = ("ns0", "ns1"), 8, 5
KINDS = {"Service": Service, "TrafficTarget": TrafficTarget, "TrafficSplit": TrafficSplit}


def _ns(i: int) -> str:
    return NAMESPACES[i % 2]


def _service(rng: random.Random, name: str, ns: str) -> dict[str, Any]:
    selector = (
        {"app": f"w{rng.randrange(WORKLOADS)}"} if rng.random() < 0.7 else {"tier": f"t{rng.randrange(2)}"}
    )
    ports = [{"name": "http", "port": 80, "targetPort": 8080}]
    if rng.random() < 0.3:
        ports.append({"name": "tcp-db", "port": 5432, "targetPort": 9000})
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"selector": selector, "ports": ports}}


def _target(rng: random.Random, sa: int) -> dict[str, Any]:
    sources = [
        {"kind": "ServiceAccount", "name": f"sa{s}", "namespace": ns}
        for s in range(ACCOUNTS)
        for ns in NAMESPACES
        if rng.random() < 0.2
    ]
    spec = {
        "destination": {"kind": "ServiceAccount", "name": f"sa{sa}"},
        "sources": sources or [{"kind": "ServiceAccount", "name": "sa0", "namespace": "ns0"}],
        "rules": [{"kind": "HTTPRouteGroup", "name": "all"}],
    }
    return {"metadata": {"name": f"tt{sa}", "namespace": _ns(sa)}, "spec": spec}


def _split(rng: random.Random, world: dict[tuple[str, str, str], dict[str, Any]], ns: str) -> dict[str, Any]:
    names = [key[2] for key in world if key[0] == "Service" and key[1] == ns] or ["missing"]
    root, *backends = rng.sample(names, min(3, len(names))) if len(names) > 1 else names * 2
    spec = {"service": root, "backends": [{"service": b, "weight": rng.randrange(0, 100)} for b in backends]}
    return {"metadata": {"name": f"split-{root}", "namespace": ns}, "spec": spec}


def _initial(rng: random.Random) -> dict[tuple[str, str, str], dict[str, Any]]:
    world: dict[tuple[str, str, str], dict[str, Any]] = {}
    for j in range(12):
        world["Service", _ns(j), f"s{j}"] = _service(rng, f"s{j}", _ns(j))
    for sa in range(ACCOUNTS):
        world["TrafficTarget", _ns(sa), f"tt{sa}"] = _target(rng, sa)
    for ns in NAMESPACES:
        split = _split(rng, world, ns)
        world["TrafficSplit", ns, split["metadata"]["name"]] = split
    return world


def _instances() -> list[Instance]:
    workloads = [
        (_ns(i), f"w{i}", f"sa{i % ACCOUNTS}", {"app": f"w{i}", "tier": f"t{i % 2}"}, 1 + i % 2,
         [("http", 8080), ("db", 9000)])
        for i in range(WORKLOADS)
    ]  # fmt: skip
    return instances_from_workloads(workloads, counter(30_000), tcp_services=[("ns0", "s0", 5432)])


def _mutate(
    rng: random.Random, world: dict[Any, dict[str, Any]], instances: list[Instance], step: int
) -> None:
    """One random change of the kinds a mesh sees: services, splits, policies, replicas, labels."""
    choice = rng.randrange(7)
    keys = sorted(world)
    if choice == 0:
        ns = rng.choice(NAMESPACES)
        world["Service", ns, f"n{step}"] = _service(rng, f"n{step}", ns)
    elif choice == 1 and keys:
        key = rng.choice([k for k in keys if k[0] == "Service"] or keys)
        world.pop(key) if rng.random() < 0.4 else world.update({key: _service(rng, key[2], key[1])})
    elif choice == 2:
        split = _split(rng, world, rng.choice(NAMESPACES))
        world["TrafficSplit", split["metadata"]["namespace"], split["metadata"]["name"]] = split
    elif choice == 3:
        sa = rng.randrange(ACCOUNTS)
        world["TrafficTarget", _ns(sa), f"tt{sa}"] = _target(rng, sa)
    elif choice == 4:
        template = rng.choice(instances)
        instances.append(
            replace(template, name=f"{template.workload}-x{step}", node_id="", admin_port=40_000 + step)
        )
    elif choice == 5 and len(instances) > 2:
        instances.pop(rng.randrange(len(instances)))
    else:
        index = rng.randrange(len(instances))
        labels = {"app": f"w{rng.randrange(WORKLOADS)}", "tier": f"t{rng.randrange(2)}"}
        instances[index] = replace(instances[index], labels=tuple(sorted(labels.items())))


def _model(
    world: dict[tuple[str, str, str], dict[str, Any]],
    instances: list[Instance],
    previous: MeshModel | None = None,
) -> MeshModel:
    """The model of `world`, reusing what `previous` (an earlier model) built."""
    groups = [
        HTTPRouteGroup.model_validate(
            {"metadata": {"name": "all", "namespace": ns}, "spec": {"matches": [{"name": "all"}]}}
        )
        for ns in NAMESPACES
    ]
    resources = [_validated(kind, body) for (kind, _ns, _name), body in sorted(world.items())]
    return build_model([*groups, *resources], instances, previous=previous.build_state if previous else None)


_VALIDATED: dict[str, Any] = {}


def _validated(kind: str, body: dict[str, Any]) -> Any:
    """The same object for an unchanged resource, as the store hands it over (so reuse is exercised)."""
    text = kind + json.dumps(body, sort_keys=True)
    if text not in _VALIDATED:
        _VALIDATED[text] = KINDS[kind].model_validate(body)
    return _VALIDATED[text]


@pytest.mark.parametrize("seed", range(6))
def test_a_view_left_out_never_changes(seed: int) -> None:
    rng = random.Random(seed)
    world, instances = _initial(rng), _instances()
    old = _model(world, instances)
    checked = 0
    for step in range(60):
        _mutate(rng, world, instances, step)
        new = _model(world, instances, old)
        affected = affected_nodes(old, new)
        assert affected is not None
        for node in set(new.instances) - affected:
            assert proxy_view(old, node) == proxy_view(new, node), (step, node)
            checked += 1
        old = new
    assert checked > 0  # the index does leave views out (it is not just "everything")


def test_a_service_nobody_reaches_affects_no_node() -> None:
    rng = random.Random(1)
    world, instances = _initial(rng), _instances()
    before = _model(world, instances)
    world["Service", "elsewhere", "lonely"] = {
        "metadata": {"name": "lonely", "namespace": "elsewhere"},
        "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
    }
    assert affected_nodes(before, _model(world, instances, before)) == frozenset()


def test_a_new_replica_affects_itself_and_the_callers_of_its_services() -> None:
    rng = random.Random(2)
    world, instances = _initial(rng), _instances()
    before = _model(world, instances)
    extra = replace(instances[0], name="w0-extra", node_id="", admin_port=45_000)
    after = _model(world, [*instances, extra], before)
    affected = affected_nodes(before, after)
    assert affected is not None and extra.node_id in affected
    changed = {n for n in before.instances if proxy_view(before, n) != proxy_view(after, n)}
    assert changed <= affected
    assert len(affected) < len(after.instances)


def test_a_change_of_domain_or_mode_affects_everyone() -> None:
    rng = random.Random(3)
    model = _model(_initial(rng), _instances())
    assert affected_nodes(model, replace(model, trust_domain="other.example", _memo={})) is None
    assert affected_nodes(model, replace(model, permissive=True, _memo={})) is None


def _views(model: MeshModel) -> dict[str, Any]:
    return {node: proxy_view(model, node) for node in model.instances}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), steps=st.integers(1, 25), data=st.data())
def test_a_model_built_with_an_earlier_state_equals_a_cold_build(seed: int, steps: int, data: Any) -> None:
    """Over random change sequences, `build_model(..., previous=)` with the state of ANY earlier build
    (not only the last one) gives the model and the views a cold build gives."""
    rng = random.Random(seed)
    world, instances = _initial(rng), _instances()
    built = [_model(world, instances)]
    for step in range(steps):
        _mutate(rng, world, instances, step)
        earlier = built[data.draw(st.integers(0, len(built) - 1), label="previous build")]
        warm, cold = _model(world, instances, earlier), _model(world, instances)
        assert warm == cold, step  # every field but the memo and the state
        assert warm.diagnostics == cold.diagnostics
        assert _views(warm) == _views(cold), step
        built.append(warm)


@pytest.mark.parametrize("seed", range(4))
def test_a_model_rebuilt_after_a_change_equals_one_built_cold(seed: int) -> None:
    rng = random.Random(100 + seed)
    world, instances = _initial(rng), _instances()
    warm = _model(world, instances)
    for step in range(40):
        _mutate(rng, world, instances, step)
        warm = _model(world, instances, warm)
        cold = _model(world, instances)
        assert warm.services == cold.services, step
        assert warm.inbound_protocols == cold.inbound_protocols
        assert warm.diagnostics == cold.diagnostics
