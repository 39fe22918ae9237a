"""The controller with the real store, LocalTarget and sqlite (no processes: targets report ready,
metrics a healthy constant): what it writes into the store, the commands, and a restart that
resumes from canaries.sqlite3."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smimesh.resources import ResourceKey, load_text
from smimesh.resources.workload import Workload
from smimesh.runtime.canary.analysis import Analysis
from smimesh.runtime.canary.checks import Measurement
from smimesh.runtime.canary.controller import CanaryCommandError, CanaryController
from smimesh.runtime.canary.local_target import LocalTarget, MaskedStore
from smimesh.runtime.canary.persist import StatusStore
from smimesh.runtime.canary.webhooks import HookCaller
from smimesh.sources.store import ResourceStore

FILE = "/mesh/web.yaml"


def manifests(version: str) -> str:
    return f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: web, namespace: shop, labels: {{app: web, tier: front}}}}
spec:
  command: [sleep, "100"]
  env: {{VERSION: {version}}}
  replicas: 2
  ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: shop}}
spec:
  targetRef: {{apiVersion: smimesh.io/v1alpha1, kind: Workload, name: web}}
  service: {{port: 80, targetPort: http, apex: {{labels: {{role: apex}}}}}}
  analysis: {{interval: 1m, threshold: 2, maxWeight: 50, stepWeight: 10, stepWeightPromotion: 25}}
"""


class Healthy:
    async def measure(self, namespace: str, workload: str, window_s: float) -> Measurement:
        return Measurement(100.0, 100.0, 5.0)


async def _controller(store: ResourceStore, tmp_path: Path) -> tuple[CanaryController, LocalTarget]:
    target = LocalTarget(store, tmp_path, lambda _node: True)
    analysis = Analysis(target, target, Healthy(), HookCaller(), lambda *_: None)
    controller = CanaryController(store, analysis, StatusStore(tmp_path / "c.sqlite3"), say=lambda _: None)
    await controller.restore()
    return controller, target


async def _store(version: str) -> ResourceStore:
    store = ResourceStore()
    await store.replace_origin(FILE, load_text(manifests(version), FILE).objects)
    return store


async def tick(controller: CanaryController) -> None:
    """One pass at an interval end (every canary due), without waiting for the clock."""
    for key in controller._due:
        controller._due[key] = 0.0
    await controller.pass_once()


def _get(store: ResourceStore, kind: str, name: str) -> object:
    found = store.get(ResourceKey(kind, "shop", name))
    return None if found is None else found.resource


async def test_flagger_objects_in_the_store_and_the_idle_target_masked(tmp_path: Path) -> None:
    store = await _store("v1")
    controller, target = await _controller(store, tmp_path)
    await tick(controller)
    await tick(controller)  # Initializing -> Initialized (the primary serves)
    assert controller.states[ResourceKey("Canary", "shop", "web")].phase == "Initialized"
    primary = _get(store, "Workload", "web-primary")
    assert isinstance(primary, Workload) and primary.metadata.labels == {
        "app": "web-primary",
        "tier": "front",
    }
    assert primary.spec.replicas == 2 and primary.spec.env == {"VERSION": "v1"}
    apex = _get(store, "Service", "web")
    assert apex is not None and apex.spec.selector == {"app": "web-primary"}  # type: ignore[attr-defined]
    assert apex.metadata.labels == {"role": "apex"}  # type: ignore[attr-defined]
    canary_svc = _get(store, "Service", "web-canary")
    assert canary_svc.spec.selector == {"app": "web"}  # type: ignore[union-attr]
    masked = MaskedStore(store, target).snapshot().find(Workload, "shop", "web")
    assert masked is not None and masked.spec.replicas == 0
    assert store.snapshot().find(Workload, "shop", "web").spec.replicas == 2  # type: ignore[union-attr]


KEY = ResourceKey("Canary", "shop", "web")


async def _analysing_v2(tmp_path: Path) -> tuple[ResourceStore, CanaryController]:
    """v1 initialized, then v2 saved: its analysis has taken its first step."""
    store = await _store("v1")
    controller, _ = await _controller(store, tmp_path)
    for _ in range(2):
        await tick(controller)
    await store.replace_origin(FILE, load_text(manifests("v2"), FILE).objects)
    await tick(controller)
    return store, controller


async def test_commands_and_a_restart_that_resumes(tmp_path: Path) -> None:
    store, controller = await _analysing_v2(tmp_path)
    assert (controller.states[KEY].phase, controller.states[KEY].canary_weight) == ("Progressing", 10)
    await controller.command("shop", "web", "set-weight", 30)
    assert _get(store, "TrafficSplit", "web").spec.backends[1].weight == 30  # type: ignore[union-attr]
    await controller.command("shop", "web", "abort")
    assert controller.states[KEY].phase == "Failed"
    with pytest.raises(CanaryCommandError, match="phase Failed"):
        await controller.command("shop", "web", "promote")
    await controller.command("shop", "web", "retry")
    assert controller.states[KEY].phase == "Progressing"
    await controller.command("shop", "web", "set-weight", 40)

    restarted = ResourceStore()  # a new `smimesh up`: files again, nothing derived yet
    await restarted.replace_origin(FILE, load_text(manifests("v2"), FILE).objects)
    again, _ = await _controller(restarted, tmp_path)
    assert (again.states[KEY].phase, again.states[KEY].canary_weight) == ("Progressing", 40)
    assert _get(restarted, "TrafficSplit", "web").spec.backends[1].weight == 40  # type: ignore[union-attr]
    await again.command("shop", "web", "promote")
    await tick(again)
    assert again.states[KEY].phase == "Promoting"
    primary = _get(restarted, "Workload", "web-primary")
    assert primary.spec.env == {"VERSION": "v2"}  # type: ignore[union-attr]


async def test_gradual_promotion_by_step_weight_promotion(tmp_path: Path) -> None:
    _, controller = await _analysing_v2(tmp_path)
    await controller.command("shop", "web", "promote")
    weights = []
    for _ in range(6):
        await tick(controller)
        weights.append((controller.states[KEY].phase, controller.states[KEY].canary_weight))
    assert weights[:5] == [
        ("Promoting", 100),
        ("Promoting", 75),
        ("Promoting", 50),
        ("Promoting", 25),
        ("Finalising", 0),
    ], weights


async def test_naming_by_revision_keeps_the_workload_as_the_stable_one(tmp_path: Path) -> None:
    text = manifests("v1").replace(
        "metadata: {name: web, namespace: shop}",
        "metadata: {name: web, namespace: shop, annotations: {smimesh.io/naming: revision}}",
    )
    store = ResourceStore()
    await store.replace_origin(FILE, load_text(text, FILE).objects)
    controller, target = await _controller(store, tmp_path)
    for _ in range(2):
        await tick(controller)
    assert controller.states[KEY].phase == "Initialized"
    assert _get(store, "Workload", "web-primary") is None  # no renamed copy
    running = MaskedStore(store, target).snapshot().find(Workload, "shop", "web")
    assert running is not None and running.spec.replicas == 2
    stable = running.metadata.labels["smimesh.io/revision"]
    assert _get(store, "Service", "web-primary").spec.selector == {
        "app": "web",
        "smimesh.io/revision": stable,
    }  # type: ignore[union-attr]

    await store.replace_origin(FILE, load_text(text.replace("VERSION: v1", "VERSION: v2"), FILE).objects)
    await tick(controller)
    candidate = _get(store, "Workload", "web-canary")
    assert isinstance(candidate, Workload) and candidate.spec.env == {"VERSION": "v2"}
    assert candidate.metadata.labels["smimesh.io/revision"] != stable
    running = MaskedStore(store, target).snapshot().find(Workload, "shop", "web")
    assert running is not None and running.spec.env == {"VERSION": "v1"}  # still the promoted revision
    await controller.command("shop", "web", "promote")
    for _ in range(6):
        await tick(controller)
    assert controller.states[KEY].phase == "Succeeded"
    running = MaskedStore(store, target).snapshot().find(Workload, "shop", "web")
    assert running is not None and running.spec.env == {"VERSION": "v2"}
    assert _get(store, "Workload", "web-canary") is None


async def test_a_failing_pass_is_reported_and_the_loop_goes_on(tmp_path: Path) -> None:
    store = await _store("v1")
    controller, _ = await _controller(store, tmp_path)
    said: list[str] = []
    controller.say = said.append
    calls = {"n": 0}
    original = controller.pass_once

    async def flaky() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        await original()

    controller.pass_once = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(controller.run())
    try:
        for _ in range(100):
            if KEY in controller.states:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert any("a pass failed (RuntimeError('boom'))" in line for line in said), said
    assert KEY in controller.states  # the next pass ran
