"""The test API server's storage: objects by (resource, namespace, name), one resourceVersion counter.

Owns what etcd + the watch cache do for kube-apiserver, as far as clients can see it:
- every write bumps one global counter; the object's `metadata.resourceVersion` is that number (as a
  string, opaque to clients), lists carry the counter at the time of the list;
- `update(..., expected_rv)` is optimistic concurrency: a stale `resourceVersion` is 409 Conflict;
- every change is kept in an event log so a watch can start from any resourceVersion still in it;
  `compact()` forgets the log (as etcd compaction does), after which a watch from an older
  resourceVersion gets 410 Gone (`Expired`);
- watchers get ADDED/MODIFIED/DELETED filtered by their selector, with the transitions kube-apiserver
  sends (an object that stops matching is DELETED for that watcher, one that starts matching ADDED).
Thread-safe: the HTTP handlers run in the server's loop, tests call in from their own thread or loop.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (resource id, namespace or "", name)
Predicate = Callable[[Mapping[str, Any]], bool]


class ApiError(Exception):
    """An error the server answers with a `Status` object."""

    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})
        self.warnings: list[str] = []  # sent as Warning headers with the error (admission warnings)

    def status(self) -> Obj:
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> Obj:
    out: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        out["details"] = dict(details)
    return out


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind})


@dataclass(frozen=True, slots=True)
class Event:
    rv: int
    rid: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    old: Obj | None = None


@dataclass(slots=True, eq=False)
class Watcher:
    """One open watch: events for `rid` (and `namespace` when set) that `predicate` selects."""

    rid: str
    namespace: str
    predicate: Predicate
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)

    def wants(self, event: Event) -> str | None:
        """The event type this watcher sees for `event` (None: nothing)."""
        if event.rid != self.rid:
            return None
        if self.namespace and event.obj["metadata"].get("namespace", "") != self.namespace:
            return None
        now = self.predicate(event.obj)
        before = event.old is not None and self.predicate(event.old)
        if event.type == "MODIFIED" and now != before:
            return "ADDED" if now else "DELETED"
        return event.type if now else None

    def deliver(self, event_type: str, obj: Obj) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (event_type, obj))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, None)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ObjectStore:
    """See the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rv = 1
        self._objects: dict[Key, Obj] = {}
        self._log: list[Event] = []
        self._compacted = 0
        self._watchers: list[Watcher] = []

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    # ---- reads --------------------------------------------------------------------------------------

    def get(self, key: Key) -> Obj | None:
        with self._lock:
            found = self._objects.get(key)
            return copy.deepcopy(found) if found is not None else None

    def list_objects(
        self, rid: str, namespace: str = "", predicate: Predicate | None = None
    ) -> tuple[list[Obj], int]:
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (r, ns, _), obj in sorted(self._objects.items())
                if r == rid and (not namespace or ns == namespace) and (predicate is None or predicate(obj))
            ]
            return items, self._rv

    def keys(self, rid: str) -> list[Key]:
        with self._lock:
            return [key for key in self._objects if key[0] == rid]

    # ---- writes -------------------------------------------------------------------------------------

    def create(self, key: Key, obj: Obj) -> Obj:
        with self._lock:
            if key in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{obj.get("kind")} "{key[2]}" already exists',
                    {"name": key[2], "kind": obj.get("kind")},
                )
            meta = obj.setdefault("metadata", {})
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
            return self._commit(key, obj, "ADDED", None)

    def update(self, key: Key, obj: Obj, expected_rv: str | None) -> Obj:
        with self._lock:
            current = self._objects.get(key)
            if current is None:
                raise not_found(str(obj.get("kind")), key[2])
            if expected_rv and expected_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {key[0]} "{key[2]}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    {"name": key[2], "kind": obj.get("kind")},
                )
            meta = obj.setdefault("metadata", {})
            for name in ("uid", "creationTimestamp"):
                meta[name] = current["metadata"][name]
            meta["generation"] = current["metadata"].get("generation", 1) + (
                1 if obj.get("spec") != current.get("spec") else 0
            )
            return self._commit(key, obj, "MODIFIED", current)

    def delete(self, key: Key, kind: str, expected_rv: str | None = None) -> Obj:
        with self._lock:
            current = self._objects.get(key)
            if current is None:
                raise not_found(kind, key[2])
            if expected_rv and expected_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'precondition failed for {key[0]} "{key[2]}": resourceVersion does not match',
                )
            del self._objects[key]
            gone = copy.deepcopy(current)
            return self._commit(key, gone, "DELETED", current, store=False)

    def _commit(self, key: Key, obj: Obj, kind: str, old: Obj | None, store: bool = True) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if store:
            self._objects[key] = obj
        event = Event(self._rv, key[0], kind, obj, old)
        self._log.append(event)
        for watcher in self._watchers:
            seen = watcher.wants(event)
            if seen:
                watcher.deliver(seen, copy.deepcopy(obj))
        return copy.deepcopy(obj)

    # ---- watches ------------------------------------------------------------------------------------

    def watch(self, watcher: Watcher, since: int | None) -> None:
        """Register `watcher`, first replaying what it missed: every event after `since`, or (None) the
        current objects as ADDED. Raises 410 Gone when `since` is older than the compacted log."""
        with self._lock:
            if since is None:
                items, _ = self.list_objects(watcher.rid, watcher.namespace, watcher.predicate)
                for obj in items:
                    watcher.deliver("ADDED", obj)
            elif since < self._compacted:
                raise ApiError(410, "Expired", f"too old resource version: {since} ({self._compacted})")
            else:
                for event in self._log:
                    seen = watcher.wants(event) if event.rv > since else None
                    if seen:
                        watcher.deliver(seen, copy.deepcopy(event.obj))
            self._watchers.append(watcher)

    def bookmark(self, watcher: Watcher, kind: str, api_version: str) -> None:
        """Queue a BOOKMARK at the current resourceVersion behind every event already queued for it."""
        with self._lock:
            watcher.deliver(
                "BOOKMARK",
                {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(self._rv)}},
            )

    def unwatch(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    def compact(self) -> int:
        """Forget the event log up to now: a watch from any older resourceVersion gets 410 Gone."""
        with self._lock:
            self._log.clear()
            self._compacted = self._rv
            return self._rv

    def cut_watches(self) -> int:
        """End every open watch (as an API server restart or a load balancer timeout does)."""
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.close()
        return len(watchers)

    def watcher_count(self) -> int:
        with self._lock:
            return len(self._watchers)
