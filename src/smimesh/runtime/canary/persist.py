"""Canary statuses in the run directory (`canaries.sqlite3`), so a restart resumes every analysis.

One row per Canary key with the `CanaryState` as JSON, written (fsynced, WAL, synchronous=FULL,
0600 like the applied store) after every step that changed it: a restart of `smimesh up` reads
the rows back and each canary continues from the phase, weight and failed checks it had, never
from the start, and never with weights left without an owner.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from smimesh.resources import ResourceKey
from smimesh.runtime.canary.state import CanaryState

_SCHEMA = """
CREATE TABLE IF NOT EXISTS canaries (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
)
"""


class StatusStore:
    """Blocking calls; the controller runs them in a worker thread."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def load(self) -> dict[tuple[str, str], CanaryState]:
        rows = self._db.execute("SELECT namespace, name, state FROM canaries").fetchall()
        return {(ns, name): CanaryState.from_json(json.loads(text)) for ns, name, text in rows}

    def save(self, key: ResourceKey, state: CanaryState) -> None:
        row = (key.namespace, key.name, json.dumps(state.to_json()))
        self._db.execute("INSERT OR REPLACE INTO canaries VALUES (?, ?, ?)", row)

    def remove(self, key: ResourceKey) -> None:
        self._db.execute("DELETE FROM canaries WHERE namespace=? AND name=?", (key.namespace, key.name))

    def close(self) -> None:
        self._db.close()
