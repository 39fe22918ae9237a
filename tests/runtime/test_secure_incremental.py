"""The secured pipeline (`smimesh up`'s) recomputes only the views a change can affect (counted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smimesh.identity import SpiffeId
from smimesh.mesh.modes import MeshModes, MtlsMode
from smimesh.runtime.identity import MeshSecurity
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.testing import bookstore
from smimesh.testing.stores import ListStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LIFETIME_S = 3600
MORE_SOURCES = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: bookstore-to-warehouse, namespace: bookstore}
spec:
  destination: {kind: ServiceAccount, name: warehouse, namespace: bookstore}
  rules: [{kind: HTTPRouteGroup, name: warehouse-routes, matches: [stock]}]
  sources: [{kind: ServiceAccount, name: bookstore}, {kind: ServiceAccount, name: buyer}]
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Counted:
    """A `smimesh up` pipeline whose secured views are counted per node."""

    def __init__(self, tmp_path: Path, clock: Clock) -> None:
        self.security = MeshSecurity(tmp_path, Settings(leaf_lifetime_s=LIFETIME_S), clock=clock)
        self.store, self.nodes = ListStore(bookstore.world()), []
        self.pipeline = Pipeline(
            self.store, SnapshotCache(), settings=Settings(), build_model=self.security.build_model,
            proxy_view=self._view, generate=self.security.generate, affected=self.security.affected,
        )  # fmt: skip
        self.pipeline.set_instances(bookstore.world_instances(self.store.resources))
        self.rebuild()

    def _view(self, model: Any, node_id: str) -> Any:
        self.nodes.append(node_id)
        return self.security.proxy_view(model, node_id)

    def rebuild(self) -> set[str]:
        self.nodes.clear()
        self.pipeline.rebuild(0.0)
        return set(self.nodes)

    def nodes_of(self, service_account: str) -> set[str]:
        instances = self.pipeline.model.instances.items()
        return {node for node, i in instances if i.service_account == service_account}


def test_a_traffic_target_change_recomputes_only_its_destinations_and_new_sources_views(
    tmp_path: Path,
) -> None:
    mesh = Counted(tmp_path, Clock())
    assert mesh.rebuild() == set()  # nothing changed: no view at all
    mesh.store.resources = bookstore.world(MORE_SOURCES, replace=["TrafficTarget/bookstore-to-warehouse"])
    recomputed = mesh.rebuild()
    # The destination's RBAC, and the source it adds (buyer now sees the warehouse: real visibility).
    assert recomputed == mesh.nodes_of("warehouse") | mesh.nodes_of("buyer")
    assert mesh.nodes_of("warehouse") and mesh.nodes_of("buyer")
    assert mesh.pipeline.stats.proxies_skipped >= len(mesh.pipeline.model.instances) - len(recomputed)


def test_a_leaf_renewal_for_one_identity_recomputes_only_its_proxies(tmp_path: Path) -> None:
    clock = Clock()
    mesh = Counted(tmp_path, clock)
    book, buyer = mesh.security.book, SpiffeId("cluster.local", "bookstore", "buyer")
    others = book.identities - {buyer}
    before = {identity: book.bundle(identity) for identity in book.identities}
    clock.now = T0 + timedelta(seconds=1)
    book.sync(others, clock.now)  # the buyer's leaf dropped and reissued: only its bundle changes
    assert book.sync(book.identities | {buyer}, clock.now).reissued == {buyer}
    assert [i for i in before if book.bundle(i) != before[i]] == [buyer]
    assert mesh.rebuild() == mesh.nodes_of("buyer") != set()


def test_a_mode_change_recomputes_every_view(tmp_path: Path) -> None:
    mesh = Counted(tmp_path, Clock())
    mesh.security.modes = MeshModes(mtls=MtlsMode.PERMISSIVE)
    assert mesh.rebuild() == set(mesh.pipeline.model.instances)
    assert mesh.rebuild() == set()


def test_a_root_rotation_recomputes_every_view(tmp_path: Path) -> None:
    clock = Clock()
    mesh = Counted(tmp_path, clock)
    due = mesh.security._root_rotation_due()
    assert due is not None
    clock.now = due
    assert mesh.security._rotate_root_if_due(clock.now) is not None
    assert mesh.rebuild() == set(mesh.pipeline.model.instances)
