"""Endpoint churn's shortcuts give what a cold build gives: over random chains of changes where most
steps change only the instances (the snapshot is then the very same object, as the store hands it
over while no resource changed), the secured model built with the previous state and the carried-over
certificate record equals a cold build with a fresh certificate sync, every secured view is equal
(the indexes patched or reused from the previous build: services by identity, policies by
destination), and a view the exact index leaves out never changes. Renewals come due on the way."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.mesh.test_impact import NAMESPACES, _initial, _instances, _mutate, _validated

from smimesh.mesh import build_model
from smimesh.mesh.reuse import ViewReuse
from smimesh.resources import InputSnapshot
from smimesh.resources.specs import HTTPRouteGroup
from smimesh.runtime.certificates import sync_certificates
from smimesh.runtime.identity import MeshSecurity
from smimesh.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIFETIME_S = 3600


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _snapshot(world: dict[tuple[str, str, str], dict[str, Any]]) -> InputSnapshot:
    groups = [
        HTTPRouteGroup.model_validate(
            {"metadata": {"name": "all", "namespace": ns}, "spec": {"matches": [{"name": "all"}]}}
        )
        for ns in NAMESPACES
    ]
    resources = [_validated(kind, body) for (kind, _ns, _name), body in sorted(world.items())]
    return InputSnapshot.from_resources([*groups, *resources])


def _churn(rng: random.Random, world: dict[Any, Any], instances: list[Any], step: int) -> bool:
    """Mostly an instance change (readiness, a new account); now and then any change. True: resources
    changed."""
    before, roll = dict(world), rng.random()
    if roll < 0.75:
        index = rng.randrange(len(instances))
        instances[index] = _flipped(instances[index], rng)
    elif roll < 0.8:  # a pod of a new service account: its leaf must be issued (no carrying over)
        index = rng.randrange(len(instances))
        instances[index] = replace(instances[index], service_account=f"new{step}")
    else:
        _mutate(rng, world, instances, step)
    return world != before


def _flipped(instance: Any, rng: random.Random) -> Any:
    labels = (
        () if instance.labels and rng.random() < 0.5 else (("app", f"w{rng.randrange(8)}"), ("tier", "t0"))
    )
    return replace(instance, labels=labels)


@pytest.mark.parametrize("seed", range(5))
def test_churn_warm_builds_equal_cold_builds_and_the_index_stays_exact(tmp_path: Path, seed: int) -> None:
    rng, clock = random.Random(seed), Clock()
    security = MeshSecurity(tmp_path, Settings(leaf_lifetime_s=LIFETIME_S), clock=clock)
    world, instances = _initial(rng), _instances()
    snapshot = _snapshot(world)
    warm = security.build_model(snapshot, instances)
    carried = 0
    for step in range(60):
        if _churn(rng, world, instances, step):
            snapshot = _snapshot(world)
        if step % 20 == 19:
            clock.now += timedelta(seconds=LIFETIME_S)  # every leaf due: the record must not be carried
        old, warm = warm, security.build_model(snapshot, instances, previous=warm.build_state)
        carried += warm.issued.bundles is old.issued.bundles
        plain = build_model(_snapshot(world), instances)  # a new snapshot object: nothing reused
        cold, _ = sync_certificates(
            security.book, plain, security.modes, clock(), security.settings.trust_domain
        )
        assert warm == cold, step
        assert warm.diagnostics == cold.diagnostics
        views = {node: security.proxy_view(warm, node) for node in warm.instances}
        assert views == {node: security.proxy_view(cold, node) for node in cold.instances}, step
        affected = security.affected(old, warm)
        for node in set(warm.instances) - set(affected if affected is not None else warm.instances):
            assert security.proxy_view(old, node) == views[node], (step, node)
    assert carried > 30  # the churn steps did take the shortcut


def test_derived_indexes_of_deleted_services_do_not_pile_up() -> None:
    reuse = ViewReuse()
    reuse.derived = {("peers", n): ((), ()) for n in range(5000)}
    reuse.keep_only({})
    assert reuse.derived == {}
