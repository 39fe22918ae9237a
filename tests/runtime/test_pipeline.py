"""The pipeline with small fakes of build_model / proxy_view / generate injected, and a fake store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from smimesh.runtime.pipeline import Pipeline
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.xds import type_urls as T

SETTINGS = Settings(debounce_quiet_s=0.005, debounce_max_wait_s=0.05)


@dataclass(frozen=True)
class Inst:
    node_id: str


@dataclass
class FakeStore:
    """`snapshot()` is {node_id: [cluster names]}; `change()` notifies like ResourceStore does."""

    world: dict[str, list[str]]
    queue: asyncio.Queue[float] = field(default_factory=asyncio.Queue)

    def snapshot(self) -> dict[str, list[str]]:
        return {node: list(names) for node, names in self.world.items()}

    async def subscribe(self) -> AsyncIterator[Any]:
        yield None  # the first read returns at once, as the real store's does
        while True:
            yield await self.queue.get()

    def change(self, node: str, names: list[str]) -> None:
        self.world[node] = names
        self.queue.put_nowait(None)


@dataclass
class Model:
    world: dict[str, list[str]]
    diagnostics: tuple[Any, ...] = ()


class Fakes:
    def __init__(self) -> None:
        self.generated: list[str] = []
        self.eds_without_endpoints: set[str] = set()
        self.explode: set[str] = set()

    def build_model(self, snapshot: Any, instances: Any, *, trust_domain: str, previous: Any = None) -> Model:
        return Model(snapshot)

    def proxy_view(self, model: Model, node_id: str) -> tuple[str, ...]:
        return (node_id, *model.world.get(node_id, []))

    def generate(self, view: tuple[str, ...]) -> dict[str, list[Any]]:
        self.generated.append(view[0])
        if view[0] in self.explode:
            raise RuntimeError("boom")
        kind = (
            cluster_pb2.Cluster.EDS if view[0] in self.eds_without_endpoints else cluster_pb2.Cluster.STATIC
        )
        return {T.CLUSTER: [cluster_pb2.Cluster(name=name, type=kind) for name in view[1:]]}


@pytest.fixture
async def setup(
    no_leaked_tasks: None,
) -> AsyncIterator[tuple[Pipeline, FakeStore, SnapshotCache, Fakes, list[Any]]]:
    store, cache, fakes, reported = FakeStore({"a": ["x"], "b": ["y"]}), SnapshotCache(), Fakes(), []
    pipeline = Pipeline(
        store,
        cache,
        settings=SETTINGS,
        build_model=fakes.build_model,
        proxy_view=fakes.proxy_view,
        generate=fakes.generate,
        report=reported.extend,
    )
    pipeline.set_instances([Inst("a"), Inst("b")])
    task = asyncio.create_task(pipeline.run())
    try:
        yield pipeline, store, cache, fakes, reported
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def rebuilt(pipeline: Pipeline, builds: int) -> None:
    while pipeline.stats.builds < builds:
        pipeline.built.clear()
        await asyncio.wait_for(pipeline.built.wait(), 5)


def names(cache: SnapshotCache, node: str) -> set[str]:
    snapshot = cache.get_snapshot(node)
    return set(snapshot.entries(T.CLUSTER)) if snapshot else set()


async def test_every_known_node_gets_a_snapshot_without_connecting(setup: Any) -> None:
    pipeline, _, cache, fakes, _ = setup
    await rebuilt(pipeline, 1)
    assert names(cache, "a") == {"x"} and names(cache, "b") == {"y"}
    assert sorted(fakes.generated) == ["a", "b"]


async def test_a_change_recomputes_only_the_proxy_whose_view_changed(setup: Any) -> None:
    pipeline, store, cache, fakes, _ = setup
    await rebuilt(pipeline, 1)
    b_before = cache.get_snapshot("b")
    fakes.generated.clear()
    store.change("a", ["x", "z"])
    await rebuilt(pipeline, 2)
    assert fakes.generated == ["a"]
    assert names(cache, "a") == {"x", "z"} and cache.get_snapshot("b") is b_before
    assert pipeline.stats.proxies_unchanged >= 1


async def test_a_burst_of_changes_is_one_rebuild(setup: Any) -> None:
    pipeline, store, cache, _, _ = setup
    await rebuilt(pipeline, 1)
    for index in range(20):
        store.change("a", [f"n{index}"])
    await rebuilt(pipeline, 2)
    await asyncio.sleep(SETTINGS.debounce_max_wait_s)
    assert pipeline.stats.builds == 2 and names(cache, "a") == {"n19"}


async def test_snapshot_is_stamped_with_the_time_of_the_change(setup: Any) -> None:
    pipeline, store, cache, _, _ = setup
    await rebuilt(pipeline, 1)
    before = asyncio.get_running_loop().time()
    store.change("a", ["q"])
    await rebuilt(pipeline, 2)
    stamp = cache.get_snapshot("a").changed_at
    assert before <= stamp <= asyncio.get_running_loop().time()


async def test_inconsistent_snapshot_is_refused_and_last_good_kept(setup: Any) -> None:
    pipeline, store, cache, fakes, reported = setup
    await rebuilt(pipeline, 1)
    fakes.eds_without_endpoints.add("a")
    store.change("a", ["x", "w"])
    await rebuilt(pipeline, 2)
    assert names(cache, "a") == {"x"}
    assert [d.code for d in reported] == ["SM7201"]
    assert "CDS 'w' references EDS 'w'" in reported[0].message
    fakes.eds_without_endpoints.clear()
    store.change("a", ["x", "w", "v"])
    await rebuilt(pipeline, 3)
    assert names(cache, "a") == {"x", "w", "v"} and pipeline.diagnostics == []


async def test_generator_failure_is_a_diagnostic_and_spares_the_others(setup: Any) -> None:
    pipeline, store, cache, fakes, reported = setup
    await rebuilt(pipeline, 1)
    fakes.explode.add("a")
    store.change("a", ["boom"])
    store.change("b", ["y2"])
    await rebuilt(pipeline, 2)
    assert [d.code for d in reported] == ["SM7202"] and "RuntimeError: boom" in reported[0].message
    assert names(cache, "a") == {"x"} and names(cache, "b") == {"y2"}


async def test_instances_going_away_clear_their_snapshots(setup: Any) -> None:
    pipeline, _, cache, _, _ = setup
    await rebuilt(pipeline, 1)
    pipeline.set_instances([Inst("b")])
    await rebuilt(pipeline, 2)
    assert cache.get_snapshot("a") is None and names(cache, "b") == {"y"}


async def test_a_failing_model_build_is_reported_and_the_pipeline_keeps_going(setup: Any) -> None:
    pipeline, store, cache, fakes, reported = setup
    await rebuilt(pipeline, 1)
    real_build = fakes.build_model

    def broken(snapshot: Any, instances: Any, **options: Any) -> Model:
        fakes.build_model = real_build  # fails once
        raise ValueError("bad model")

    fakes.build_model = broken
    pipeline._build_model = lambda *a, **k: fakes.build_model(*a, **k)
    pipeline.built.clear()
    store.change("a", ["x2"])
    await asyncio.wait_for(pipeline.built.wait(), 5)
    assert [d.code for d in reported] == ["SM7203"] and "ValueError: bad model" in reported[0].message
    assert names(cache, "a") == {"x"}  # last good kept
    store.change("a", ["x3"])
    await rebuilt(pipeline, 2)
    assert names(cache, "a") == {"x3"} and pipeline.diagnostics == []
