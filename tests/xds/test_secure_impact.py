"""`secure_affected_nodes`: a secured view it leaves out never changes (random chains of changes)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from smimesh.mesh.modes import DEFAULT_MODES, MeshModes, NamespaceMode
from smimesh.xds.secure_impact import secure_affected_nodes
from smimesh.xds.security import SecureView, secure_view

sys.path.insert(0, str(Path(__file__).parent.parent / "mesh"))
from test_impact import _initial, _instances, _model, _mutate, _target  # the plain index's world

AUDITED = MeshModes(namespaces=(NamespaceMode("ns1", audit=True),))


def _view(model: object, node: str, modes: MeshModes) -> SecureView:
    return secure_view(model, node, modes, lambda _identity: None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("seed", "modes"), [(s, DEFAULT_MODES) for s in range(4)] + [(9, AUDITED)])
def test_a_secured_view_left_out_never_changes(seed: int, modes: MeshModes) -> None:
    rng = random.Random(seed)
    world, instances = _initial(rng), _instances()
    old = _model(world, instances)
    checked = everyone = 0
    for step in range(60):
        _mutate(rng, world, instances, step)
        new = _model(world, instances)
        affected = secure_affected_nodes(old, new)
        everyone += affected is None
        for node in set(new.instances) - (affected or set(new.instances)):
            assert _view(old, node, modes) == _view(new, node, modes), (step, node)
            checked += 1
        old = new
    assert checked > 0 and everyone > 0  # it does leave views out, and a service change is everyone's


def test_a_traffic_target_change_affects_only_its_destination() -> None:
    rng = random.Random(5)
    world, instances = _initial(rng), _instances()
    before = _model(world, instances)
    world["TrafficTarget", "ns1", "tt1"] = _target(random.Random(77), 1)
    after = _model(world, instances)
    assert before.policies != after.policies
    affected = secure_affected_nodes(before, after)
    identity = ("ns1", "sa1")
    destination = {n for n, i in after.instances.items() if (i.namespace, i.service_account) == identity}
    assert affected == destination
    changed = {n for n in after.instances if _view(before, n, AUDITED) != _view(after, n, AUDITED)}
    assert changed and changed <= destination


def test_a_service_change_affects_every_secured_view() -> None:
    rng = random.Random(6)
    world, instances = _initial(rng), _instances()
    before = _model(world, instances)
    world["Service", "elsewhere", "lonely"] = {
        "metadata": {"name": "lonely", "namespace": "elsewhere"},
        "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]},
    }
    assert secure_affected_nodes(before, _model(world, instances)) is None  # every sidecar routes to it
