"""Each pipeline owns its incremental state (the model's build state, the snapshot interner) and the
secured pipeline's certificate step travels with each model: nothing depends on another pipeline
or on the order of calls."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smimesh.mesh.modes import MeshModes, MtlsMode
from smimesh.runtime.identity import MeshSecurity
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.testing import bookstore
from smimesh.testing.stores import ListStore

UNRELATED = """
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: elsewhere}
spec: {selector: {app: nobody}, ports: [{port: 80}]}
"""


def _pipeline(resources: list[Any]) -> tuple[Pipeline, ListStore]:
    store = ListStore(resources)
    pipeline = Pipeline(store, SnapshotCache(), settings=Settings())
    pipeline.set_instances(bookstore.world_instances(resources))
    pipeline.rebuild(0.0)
    return pipeline, store


def _published(pipeline: Pipeline) -> dict[str, dict[str, str]]:
    nodes = [str(i.node_id) for i in pipeline.published_instances]
    snapshots = {node: pipeline.cache.get_snapshot(node) for node in nodes}
    return {node: dict(s.versions) for node, s in snapshots.items() if s is not None}


def test_two_pipelines_in_one_process_do_not_influence_each_other() -> None:
    """Interleaved changes on two pipelines: each publishes exactly what a new pipeline over its own
    store publishes, and one's rebuilds touch none of the other's state."""
    first, first_store = _pipeline(bookstore.world())
    second, second_store = _pipeline(bookstore.world())
    assert first.interner is not second.interner
    changes = [
        (first_store, bookstore.world(replace=["TrafficTarget/bookstore-to-warehouse"])),
        (second_store, bookstore.world(UNRELATED)),
        (first_store, bookstore.world()),
        (
            second_store,
            bookstore.world(bookstore.SPLIT_TEMPLATE % (50, 50), replace=["TrafficSplit/bookstore"]),
        ),
    ]
    for store, resources in changes:
        pipeline, other = (first, second) if store is first_store else (second, first)
        serialized, other_state = other.interner.serializations, other.model.build_state
        store.resources = resources
        pipeline.rebuild(0.0)
        assert other.interner.serializations == serialized and other.model.build_state is other_state
        for built in (first, second):
            cold, _ = _pipeline(list(built.store.snapshot()))
            assert _published(built) == _published(cold)
    assert first.model.build_state.views is not second.model.build_state.views


def test_secured_affected_depends_only_on_the_two_models(tmp_path: Path) -> None:
    """Each model carries the modes and certificates its views see: asking about two models after a
    third was built (a trial build, another pass) gives the answer those two models call for."""
    security = MeshSecurity(tmp_path, Settings(), clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    resources = bookstore.world()
    instances = bookstore.world_instances(resources)
    strict = security.build_model(resources, instances)
    security.set_modes(MeshModes(mtls=MtlsMode.PERMISSIVE))
    permissive = security.build_model(resources, instances, previous=strict.build_state)
    again = security.build_model(resources, instances, previous=permissive.build_state)
    assert security.affected(strict, permissive) is None  # the modes changed between these two
    assert security.affected(permissive, again) == frozenset()
    assert security.affected(strict, permissive) is None  # asked again, after all that
