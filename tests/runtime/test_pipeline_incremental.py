"""The real pipeline computes views only for the proxies a change can affect (counted, not timed)."""

from __future__ import annotations

from typing import Any

import pytest

from smimesh.mesh import ServiceKey, proxy_view, visible_services
from smimesh.mesh.impact import affected_nodes
from smimesh.runtime import pipeline as pipeline_module
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.testing import bookstore
from smimesh.testing.stores import ListStore
from smimesh.xds import generate as real_generate

UNRELATED = """
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: elsewhere}
spec: {selector: {app: nobody}, ports: [{port: 80}]}
"""
SPLIT = bookstore.SPLIT_TEMPLATE


class Counting:
    """The real `proxy_view`, counting the nodes it is asked for."""

    def __init__(self) -> None:
        self.nodes: list[str] = []

    def __call__(self, model: Any, node_id: str) -> Any:
        self.nodes.append(node_id)
        return proxy_view(model, node_id)


def _pipeline(resources: list[Any], views: Counting) -> tuple[Pipeline, ListStore]:
    store = ListStore(resources)
    pipeline = Pipeline(
        store, SnapshotCache(), settings=Settings(), proxy_view=views, affected=affected_nodes
    )
    pipeline.set_instances(bookstore.world_instances(resources))
    pipeline.rebuild(0.0)
    return pipeline, store


def test_an_unrelated_service_computes_no_view_and_publishes_nothing() -> None:
    views = Counting()
    pipeline, store = _pipeline(bookstore.world(), views)
    assert len(views.nodes) == len(pipeline.model.instances)  # the first pass computes every view
    views.nodes.clear()
    store.resources = bookstore.world(UNRELATED)
    pipeline.rebuild(1.0)
    assert views.nodes == []
    assert pipeline.stats.proxies_skipped == len(pipeline.model.instances)
    assert ServiceKey("elsewhere", "lonely") in pipeline.model.services


def test_a_split_change_recomputes_only_the_proxies_that_see_its_root() -> None:
    views = Counting()
    pipeline, store = _pipeline(bookstore.world(SPLIT % (50, 50), replace=["TrafficSplit/bookstore"]), views)
    views.nodes.clear()
    published_before = pipeline.stats.proxies_recomputed
    store.resources = bookstore.world(SPLIT % (70, 30), replace=["TrafficSplit/bookstore"])
    pipeline.rebuild(1.0)
    model, root = pipeline.model, ServiceKey("bookstore", "bookstore")
    callers = {n for n, inst in model.instances.items() if root in visible_services(model, inst.identity)}
    assert 0 < len(callers) < len(model.instances)
    assert set(views.nodes) == callers
    assert pipeline.stats.proxies_recomputed - published_before == len(callers)


def test_the_default_pipeline_uses_the_index_for_the_plain_view() -> None:
    resources = bookstore.world()
    pipeline = Pipeline(ListStore(resources), SnapshotCache(), settings=Settings())
    pipeline.set_instances(bookstore.world_instances(resources))
    pipeline.rebuild(0.0)
    pipeline.store.resources = bookstore.world(UNRELATED)  # type: ignore[attr-defined]
    pipeline.rebuild(1.0)
    assert pipeline.stats.proxies_skipped == len(pipeline.model.instances)


def test_another_view_function_still_recomputes_every_node() -> None:
    """A view with inputs beyond the model (certificates, modes) must not be skipped by this index."""
    resources = bookstore.world()
    pipeline = Pipeline(ListStore(resources), SnapshotCache(), settings=Settings(), proxy_view=Counting())
    pipeline.set_instances(bookstore.world_instances(resources))
    pipeline.rebuild(0.0)
    pipeline.rebuild(1.0)
    assert pipeline.stats.proxies_skipped == 0
    assert pipeline.stats.proxies_unchanged == len(pipeline.model.instances)


def test_a_pass_cut_short_makes_the_next_one_compute_every_view(monkeypatch: pytest.MonkeyPatch) -> None:
    views = Counting()
    pipeline, store = _pipeline(bookstore.world(), views)
    views.nodes.clear()
    store.resources = bookstore.world(SPLIT % (70, 30), replace=["TrafficSplit/bookstore"])
    monkeypatch.setattr(pipeline_module, "_CHUNK", 1)
    steps = pipeline._rebuild_steps(1.0)  # rebuild_async, cancelled after its first chunk
    next(steps)
    steps.close()
    views.nodes.clear()
    store.resources = bookstore.world(SPLIT % (70, 30) + UNRELATED, replace=["TrafficSplit/bookstore"])
    pipeline.rebuild(2.0)
    assert sorted(views.nodes) == sorted(pipeline.model.instances)


def test_a_failed_generation_is_retried_on_the_next_change_even_if_unaffected() -> None:
    views, failing = Counting(), {"on": False}

    def generate(view: Any) -> dict[str, list[Any]]:
        if failing["on"] and view.node.node_id.startswith("buyer"):
            raise RuntimeError("boom")
        return real_generate(view)

    resources = bookstore.world(SPLIT % (50, 50), replace=["TrafficSplit/bookstore"])
    store = ListStore(resources)
    pipeline = Pipeline(
        store,
        SnapshotCache(),
        settings=Settings(),
        proxy_view=views,
        generate=generate,
        affected=affected_nodes,
    )
    pipeline.set_instances(bookstore.world_instances(resources))
    pipeline.rebuild(0.0)
    failing["on"] = True  # the buyer sees the split: its new config fails, it keeps the 50/50 one
    split_70_30 = bookstore.world(SPLIT % (70, 30), replace=["TrafficSplit/bookstore"])
    store.resources = split_70_30
    pipeline.rebuild(1.0)
    assert [d.code for d in pipeline.diagnostics] == ["SM7202"]
    failing["on"] = False
    store.resources = [*split_70_30, *bookstore.load_world(UNRELATED)]  # affects nobody
    pipeline.rebuild(2.0)
    assert not pipeline.diagnostics
    assert pipeline.cache.get_snapshot("buyer-0.bookstore").changed_at == 2.0  # type: ignore[union-attr]
