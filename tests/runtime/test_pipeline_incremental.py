"""The real pipeline computes views only for the proxies a change can affect (counted, not timed)."""

from __future__ import annotations

from typing import Any

from smimesh.mesh import ServiceKey, proxy_view, visible_services
from smimesh.mesh.impact import affected_nodes
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.testing import bookstore

UNRELATED = """
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: elsewhere}
spec: {selector: {app: nobody}, ports: [{port: 80}]}
"""
SPLIT = """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  backends: [{service: bookstore-v1, weight: %d}, {service: bookstore-v2, weight: %d}]
"""


class ListStore:
    def __init__(self, resources: list[Any]) -> None:
        self.resources = resources

    def snapshot(self) -> list[Any]:
        return list(self.resources)

    async def subscribe(self) -> Any:  # pragma: no cover - the tests call rebuild() directly
        yield None


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
