"""The snapshot cache: the current `Snapshot` of every node, and who to tell when one changes.

Owns nothing of the protocol (nonces, ACKs, subscriptions live in the stream handlers): it maps a
node id to its latest snapshot and keeps, per node, the watchers of the streams serving it. Setting
a snapshot with the same content as the current one notifies nobody (an unchanged world yields no
push). Everything runs on the event loop thread; watchers are plain callbacks that must not block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from smimesh.xds.snapshot import Snapshot

Watcher = Callable[[Snapshot | None], None]


class SnapshotCache:
    """Latest snapshot per node id, with change notification per node."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._watchers: dict[str, list[Watcher]] = {}
        self.clear_listeners: list[Callable[[str], None]] = []  # told when a node is forgotten

    def set_snapshot(self, node_id: str, snapshot: Snapshot) -> bool:
        """Publish `snapshot` for `node_id`; False (and no one is told) when the content is unchanged."""
        if snapshot.same_content(self._snapshots.get(node_id)):
            return False
        self._snapshots[node_id] = snapshot
        self._notify(node_id, snapshot)
        return True

    def get_snapshot(self, node_id: str) -> Snapshot | None:
        return self._snapshots.get(node_id)

    def clear(self, node_id: str) -> None:
        """Forget a node's snapshot (its streams keep what they sent; nothing new is pushed)."""
        if self._snapshots.pop(node_id, None) is not None:
            self._notify(node_id, None)
            for listener in self.clear_listeners:
                listener(node_id)

    def node_ids(self) -> list[str]:
        return sorted(self._snapshots)

    @contextmanager
    def watch(self, node_id: str, watcher: Watcher) -> Iterator[None]:
        """Call `watcher` on every change of `node_id`'s snapshot while the block runs."""
        self._watchers.setdefault(node_id, []).append(watcher)
        try:
            yield
        finally:
            remaining = self._watchers.get(node_id, [])
            remaining.remove(watcher)
            if not remaining:
                self._watchers.pop(node_id, None)

    def watcher_count(self, node_id: str | None = None) -> int:
        if node_id is not None:
            return len(self._watchers.get(node_id, ()))
        return sum(len(watchers) for watchers in self._watchers.values())

    def _notify(self, node_id: str, snapshot: Snapshot | None) -> None:
        for watcher in list(self._watchers.get(node_id, ())):
            watcher(snapshot)
