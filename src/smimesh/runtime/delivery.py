"""Did an apply reach the sidecars? What `smimesh apply` waits for before it says "done".

Owns `DeliveryWatch`: `begin()` notes each sidecar's snapshot before the store changes; `finish(
begun, keys, timeout_s)` waits (bounded) until the pipeline has built from the store's new
generation and every connected sidecar has answered (ACK or NACK) the snapshot it now holds, then
reports what did not get through: a sidecar that refused a config this change altered (NACK, with
Envoy's text), a sidecar whose config could not be generated, an applied object held back, and the
sidecars that had not answered in time. `delivered` is true when none of the first three exists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from smimesh.server.cache import SnapshotCache
from smimesh.server.sync import ProxySync, SyncState, type_row
from smimesh.xds import type_urls
from smimesh.xds.snapshot import Snapshot

_POLL_S = 0.02  # sync state has no change event to wait on


class DeliveryWatch:
    def __init__(self, store: Any, pipeline: Any, cache: SnapshotCache, sync: SyncState) -> None:
        self.store, self.pipeline, self.cache, self.sync = store, pipeline, cache, sync

    def begin(self) -> dict[str, Snapshot | None]:
        """Each known sidecar's snapshot now (call before the store changes)."""
        return {node: self.cache.get_snapshot(node) for node in self.cache.node_ids()}

    async def finish(
        self, begun: dict[str, Snapshot | None], keys: Sequence[Any], timeout_s: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        generation = self.store.generation
        while getattr(self.pipeline, "built_generation", generation) < generation:
            if time.monotonic() >= deadline:
                return _report([], {}, {}, ["(the control plane has not rebuilt yet)"])
            await asyncio.sleep(_POLL_S)
        pending = self._unanswered()
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_S)
            pending = self._unanswered()
        held = {k: v for k, v in self.pipeline.held_back.items() if k in {str(key) for key in keys}}
        return _report(self._refused(begun), self.pipeline.failed_nodes, held, pending)

    def _unanswered(self) -> list[str]:
        return sorted(
            node
            for node in self.cache.node_ids()
            if not _answered(self.sync.get(node), self.cache.get_snapshot(node))
        )

    def _refused(self, begun: dict[str, Snapshot | None]) -> list[dict[str, Any]]:
        """NACKs of a type whose version this change altered (an older refusal is not this apply's)."""
        found = []
        for node in self.cache.node_ids():
            snapshot, proxy, before = self.cache.get_snapshot(node), self.sync.get(node), begun.get(node)
            if snapshot is None or proxy is None:
                continue
            for type_url, state in proxy.types.items():
                changed = before is None or before.version(type_url) != snapshot.version(type_url)
                if changed and state.nacked:
                    name, message = type_urls.short_name(type_url), state.nack_message
                    found.append({"node_id": node, "type": name, "message": message, **type_row(state)})
        return found


def _answered(proxy: ProxySync | None, snapshot: Snapshot | None) -> bool:
    """The sidecar ACKed or NACKed the current version of every type it asked for (or is not
    connected: it gets the latest when it connects)."""
    if snapshot is None or proxy is None or proxy.streams == 0:
        return True
    current = snapshot.type_urls()
    return all(
        snapshot.version(t) in (state.acked_version, state.nack_version)
        for t, state in proxy.types.items()
        if t in current
    )


def _report(
    refused: list[dict[str, Any]], failed: dict[str, str], held: dict[str, str], pending: list[str]
) -> dict[str, Any]:
    return {
        "delivered": not (refused or failed or held),
        "refused": refused,
        "generation_failed": failed,
        "held_back": held,
        "pending": pending,
    }
