"""The resource store: the one current set of resources, by key, each with its origin.

Sources write into it (the file source per file, the HTTP API as origin ``"api"``); the pipeline
reads `snapshot()` and waits on `subscribe()`. Everything runs on one asyncio loop: mutators are
coroutines only because API writes are made durable (fsync) in a worker thread before they count.

Precedence (one owner per key, never silent shadowing):
  * a key defined by a file belongs to the file: the API refuses to apply or delete it (SM7101),
    since the next save of the file would undo the API's change anyway;
  * if a file starts defining a key that the API applied earlier, the file's version is in force
    (SM7103, a warning); the API copy is kept (durably) and is back in force if the file drops it;
  * two files defining one key: the file that defined it first keeps it (SM7102).
The store bumps its generation only when the set of resources in force actually changes, so an
unchanged re-save of a file wakes nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smimesh.diagnostics import Diagnostic, Location, ObjectRef
from smimesh.resources import InputSnapshot, LoadedObject, ResourceKey
from smimesh.sources import codes
from smimesh.sources.changes import ChangeLog, StoreChange, Subscription

if TYPE_CHECKING:
    from smimesh.sources.durable import DurableStore

API_ORIGIN = "api"

__all__ = ["API_ORIGIN", "ResourceStore", "StoreChange", "StoredObject", "Subscription"]


@dataclass(frozen=True, slots=True)
class StoredObject:
    """A resource in force, with where it came from (a file path or "api")."""

    obj: LoadedObject
    origin: str

    @property
    def key(self) -> ResourceKey:
        return self.obj.key

    @property
    def resource(self) -> Any:
        return self.obj.resource


class ResourceStore:
    """Current resources by key, with origins, durable API writes and change notification."""

    def __init__(self, *, durable: DurableStore | None = None) -> None:
        self._layers: dict[str, dict[ResourceKey, LoadedObject]] = {}
        self._claims: dict[ResourceKey, list[str]] = {}
        self._durable = durable
        self._write_lock = asyncio.Lock()
        self._changes = ChangeLog()
        self._snapshot: tuple[int, InputSnapshot] | None = None
        self._dirty: set[ResourceKey] = set()  # keys written since `_snapshot` was made
        self._batches = 0
        self._pending_change: float | None = None

    @classmethod
    async def open(cls, path: Path) -> tuple[ResourceStore, list[Diagnostic]]:
        """A store whose API layer lives in the sqlite file `path`, restored from it."""
        from smimesh.sources.durable import DurableStore

        durable = await asyncio.to_thread(DurableStore, path)
        store = cls(durable=durable)
        restored = await asyncio.to_thread(durable.load)
        store._layers[API_ORIGIN] = {}
        store._put(API_ORIGIN, restored.objects)
        return store, list(restored.diagnostics)

    def close(self) -> None:
        """Close the durable file (the store stays readable; further API writes would fail)."""
        if self._durable is not None:
            self._durable.close()

    # ---- reading -------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._changes.generation

    def items(self) -> list[StoredObject]:
        """Every resource in force, sorted by key."""
        found = (self._in_force(key) for key in self._claims)
        return sorted((s for s in found if s is not None), key=lambda s: str(s.key))

    def get(self, key: ResourceKey) -> StoredObject | None:
        return self._in_force(key) if key in self._claims else None

    def origins(self) -> list[str]:
        return sorted(self._layers)

    def snapshot(self) -> InputSnapshot:
        """The resources in force as an `InputSnapshot` (cached per generation).

        Made from the last one with only the keys written since (`InputSnapshot.updated`), so a
        change costs what it touched, not a sort of every object; the last one stays as it was."""
        generation = self.generation
        if self._snapshot is None:
            self._dirty.clear()
            objects = [stored.obj for key in self._claims if (stored := self._in_force(key))]
            self._snapshot = (generation, InputSnapshot.from_objects(objects))
        elif self._snapshot[0] != generation:
            changes = {key: _placed(self.get(key)) for key in self._dirty}
            self._dirty.clear()
            self._snapshot = (generation, self._snapshot[1].updated(changes))
        return self._snapshot[1]

    def subscribe(self) -> Subscription:
        """Async iterator of `StoreChange`; the first item comes at once (see changes.py)."""
        return self._changes.subscribe()

    # ---- writing -------------------------------------------------------------------------

    async def apply(self, objects: Sequence[LoadedObject], origin: str) -> list[Diagnostic]:
        """Create or update `objects` for `origin`. API writes are all-or-nothing and durable."""
        async with self._write_lock:
            if origin != API_ORIGIN:
                return self._commit(_keys(objects), lambda: self._put(origin, objects))
            refused = [self._owned_by_file(obj.key) for obj in objects]
            if any(refused):
                return [d for d in refused if d is not None]
            if self._durable is not None:
                await asyncio.to_thread(self._durable.put, objects)
            return self._commit(_keys(objects), lambda: self._put(origin, objects))

    async def replace_origin(self, origin: str, objects: Sequence[LoadedObject]) -> list[Diagnostic]:
        """Make `objects` the whole set of `origin` (a file): what it no longer has is deleted."""
        if origin == API_ORIGIN:
            raise ValueError("replace_origin is for files; the API applies and deletes by key")
        async with self._write_lock:
            touched = _keys(objects) | set(self._layers.get(origin, {}))
            return self._commit(touched, lambda: self._replace(origin, objects))

    async def remove_origin(self, origin: str) -> None:
        """Forget everything `origin` defined (its file was deleted)."""
        await self.replace_origin(origin, [])
        self._layers.pop(origin, None)

    async def delete(self, key: ResourceKey) -> list[Diagnostic]:
        """Delete an API-applied object (durably). Raises KeyError if no such object exists."""
        async with self._write_lock:
            api_layer = self._layers.get(API_ORIGIN, {})
            if key not in api_layer:
                refusal = self._owned_by_file(key)
                if refusal is None:
                    raise KeyError(key)
                return [refusal]
            if self._durable is not None:
                await asyncio.to_thread(self._durable.remove, key)
            return self._commit({key}, lambda: self._drop(API_ORIGIN, [key]))

    # ---- internals -----------------------------------------------------------------------

    def _commit(self, touched: set[ResourceKey], mutate: Any) -> list[Diagnostic]:
        """Run `mutate` (-> diagnostics); bump the generation if what is in force for `touched` changed."""
        before = self._fingerprint(touched)
        self._dirty |= touched  # even if equal: the next snapshot must show what is in force now
        diagnostics: list[Diagnostic] = mutate()
        if self._fingerprint(touched) != before:
            self._record(time.monotonic())
        return diagnostics

    def _record(self, at: float) -> None:
        if self._batches:
            self._pending_change = self._pending_change or at
        else:
            self._changes.record(at)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside become ONE change for subscribers (a `git checkout` of many files must not
        publish the half-way states). Nestable; the change is dated by its first write."""
        self._batches += 1
        try:
            yield
        finally:
            self._batches -= 1
            if not self._batches and self._pending_change is not None:
                at, self._pending_change = self._pending_change, None
                self._changes.record(at)

    def _fingerprint(self, keys: set[ResourceKey]) -> dict[ResourceKey, tuple[str, Any]]:
        """What is in force for `keys` (only the keys a write touches can change)."""
        return {key: (s.origin, s.obj.resource) for key in keys if (s := self.get(key))}

    def _put(self, origin: str, objects: Iterable[LoadedObject]) -> list[Diagnostic]:
        layer = self._layers.setdefault(origin, {})
        diagnostics: list[Diagnostic] = []
        for obj in objects:
            layer[obj.key] = obj
            claims = self._claims.setdefault(obj.key, [])
            if origin not in claims:
                claims.append(origin)
            diagnostics.extend(self._conflicts(obj, origin, claims))
        return diagnostics

    def _replace(self, origin: str, objects: Sequence[LoadedObject]) -> list[Diagnostic]:
        wanted = {obj.key for obj in objects}
        gone = [key for key in self._layers.get(origin, {}) if key not in wanted]
        self._drop(origin, gone)
        return self._put(origin, objects)

    def _drop(self, origin: str, keys: Iterable[ResourceKey]) -> list[Diagnostic]:
        layer = self._layers.get(origin, {})
        for key in keys:
            layer.pop(key, None)
            claims = self._claims.get(key, [])
            if origin in claims:
                claims.remove(origin)
            if not claims:
                self._claims.pop(key, None)
        return []

    def _owner(self, key: ResourceKey) -> str | None:
        claims = self._claims.get(key, [])
        files = [origin for origin in claims if origin != API_ORIGIN]
        return files[0] if files else (claims[0] if claims else None)

    def _in_force(self, key: ResourceKey) -> StoredObject | None:
        owner = self._owner(key)
        return None if owner is None else StoredObject(self._layers[owner][key], owner)

    def _owned_by_file(self, key: ResourceKey) -> Diagnostic | None:
        owner = self._owner(key)
        if owner is None or owner == API_ORIGIN:
            return None
        where = self._layers[owner][key].location
        return Diagnostic(
            codes.OWNED_BY_FILE.code,
            f"{key} is defined by the file {where}; the API cannot change it",
            location=where,
            object=_ref(key),
            hint=f"edit or delete it in {owner} (files are the source of truth for what they define)",
        )

    def _conflicts(self, obj: LoadedObject, origin: str, claims: list[str]) -> list[Diagnostic]:
        owner = self._owner(obj.key)
        if origin == API_ORIGIN or owner == origin:
            if origin != API_ORIGIN and API_ORIGIN in claims:
                return [_shadow(obj)]
            return []
        first = self._layers[owner][obj.key].location if owner else None
        return [
            Diagnostic(
                codes.DEFINED_TWICE.code,
                f"{obj.key} is already defined in {first}; this definition is ignored",
                location=obj.location,
                object=_ref(obj.key),
                hint="remove one of the two definitions",
            )
        ]


def _keys(objects: Iterable[LoadedObject]) -> set[ResourceKey]:
    return {obj.key for obj in objects}


def _placed(stored: StoredObject | None) -> tuple[Any, Location] | None:
    return None if stored is None else (stored.obj.resource, stored.obj.location)


def _ref(key: ResourceKey) -> ObjectRef:
    return ObjectRef(key.kind, key.namespace, key.name)


def _shadow(obj: LoadedObject) -> Diagnostic:
    return Diagnostic(
        codes.FILE_SHADOWS_API.code,
        f"{obj.key} was applied through the API and is now defined by this file: the file wins",
        severity=codes.FILE_SHADOWS_API.severity,
        location=obj.location,
        object=_ref(obj.key),
        hint=f"`smimesh delete {obj.key.kind} {obj.key.name} -n {obj.key.namespace}` drops the API copy",
    )
