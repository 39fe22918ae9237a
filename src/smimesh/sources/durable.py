"""Durable storage of API-applied resources: one sqlite file in the run directory.

Why sqlite (stdlib) with `synchronous=FULL` in WAL mode: a commit returns only after the WAL is
fsynced, so once `put`/`remove` return, a kill -9 (or power loss) of the control plane loses
nothing, and a half-finished write is rolled back on the next open instead of corrupting the
file. One row per resource key holds the hub resource as JSON; on restart the rows are decoded
again through the normal loader, so a stored object is validated like any other input. The
file (and sqlite's -wal/-shm companions, which inherit its mode) is created 0600: applied
resources are the operator's configuration, not for other local users.

Calls are blocking; the store runs them in a worker thread, one at a time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.resources import LoadedObject, ResourceKey, load_text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS applied (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
)
"""


@dataclass(slots=True)
class Restored:
    """What was read back: the objects that still load, and problems with the others."""

    objects: list[LoadedObject] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def document_of(resource: Any) -> dict[str, Any]:
    """The JSON document of a (hub) resource, in SMI's field names."""
    document: dict[str, Any] = resource.to_dict()
    return document


class DurableStore:
    """API-applied resources in one sqlite file; every write is fsynced before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        _create_private(self.path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def put(self, objects: Sequence[LoadedObject]) -> None:
        """Insert or replace every object in one transaction (all or nothing)."""
        rows = [(*_key(obj.key), json.dumps(document_of(obj.resource))) for obj in objects]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO applied VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def remove(self, key: ResourceKey) -> None:
        with self._lock:
            self._db.execute("DELETE FROM applied WHERE kind=? AND namespace=? AND name=?", _key(key))

    def documents(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT document FROM applied ORDER BY kind, namespace, name")
            return [json.loads(document) for (document,) in rows.fetchall()]

    def load(self) -> Restored:
        """Decode every stored document again (through the normal loader)."""
        documents = self.documents()
        if not documents:
            return Restored()
        text = "\n---\n".join(json.dumps(document) for document in documents)
        result = load_text(text, source=str(self.path), references=False)
        return Restored(list(result.objects), list(result.diagnostics))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(key: ResourceKey) -> tuple[str, str, str]:
    return (key.kind, key.namespace, key.name)


def _create_private(path: Path) -> None:
    """Create the file with mode 0600 before sqlite opens it (sqlite would use the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existed = path.exists()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    if not existed:  # the new directory entry must survive a power loss too, not only a kill -9
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
