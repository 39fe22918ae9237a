"""No module-level mutable state in mesh/ and xds/: builds, views, config and snapshots leave every
module-level container as it was (what a build reuses is passed in: mesh/reuse.py). lru_caches on
pure functions of hashable values are functions, not containers, and may stay."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import smimesh.mesh
import smimesh.xds
from smimesh.identity import CertificateBook, SpiffeId, create_root
from smimesh.mesh import build_model, proxy_view
from smimesh.mesh.impact import affected_nodes
from smimesh.mesh.modes import DEFAULT_MODES
from smimesh.testing.bookstore import world, world_instances
from smimesh.xds import generate
from smimesh.xds.security import secure_view
from smimesh.xds.snapshot import Snapshot

_CONTAINERS = (dict, list, set, bytearray)
UNRELATED = """
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: elsewhere}
spec: {selector: {app: nobody}, ports: [{port: 80}]}
"""


def _modules() -> Iterator[ModuleType]:
    for package in (smimesh.mesh, smimesh.xds):
        yield package
        for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            yield importlib.import_module(info.name)


def _contents(value: Any) -> list[int]:
    """The identities of what a container holds (keys and values): any change shows."""
    items = value.items() if isinstance(value, dict) else value
    return [id(part) for item in items for part in (item if isinstance(value, dict) else (item,))]


def _module_containers() -> dict[str, tuple[Any, list[int]]]:
    found = {}
    for module in _modules():
        for name, value in vars(module).items():
            if isinstance(value, _CONTAINERS) and not name.startswith("__"):
                found[f"{module.__name__}.{name}"] = (value, _contents(value))
    return found


def _book(instances: list[Any]) -> CertificateBook:
    now = datetime.now(UTC)
    book = CertificateBook(create_root(trust_domain="cluster.local", now=now), trust_domain="cluster.local")
    book.sync({SpiffeId("cluster.local", i.namespace, i.service_account) for i in instances}, now)
    return book


def _work(resources: list[Any], instances: list[Any], book: CertificateBook) -> None:
    model = None
    for _ in range(3):
        previous = model
        model = build_model(resources, instances, previous=model.build_state if model else None)
        if previous is not None:
            affected_nodes(previous, model)
        for node in model.instances:
            Snapshot.build(generate(proxy_view(model, node))).consistency_errors()
            secured = secure_view(model, node, DEFAULT_MODES, book.bundle)
            Snapshot.build(generate(secured)).consistency_errors()


def test_builds_views_and_snapshots_leave_module_containers_unchanged() -> None:
    resources = world()
    instances = world_instances(resources)
    book = _book(instances)
    _work(resources, instances, book)  # imports and first-use initialisation done
    before = _module_containers()
    assert before  # the scan does see module-level tables (constants such as name maps)
    _work(world(UNRELATED), instances, book)  # new objects: a cache would take them in
    changed = [name for name, (value, contents) in before.items() if _contents(value) != contents]
    assert changed == []
