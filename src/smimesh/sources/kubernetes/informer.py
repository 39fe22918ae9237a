"""An informer: one resource's objects kept current from an API server, every change handed on once.

Owns `Informer(client, path, on_events)`. It lists, then watches from the list's resourceVersion with
`allowWatchBookmarks=true`, advancing its resourceVersion with every event and bookmark only after the
event was handed on, so a watch that ends (server timeout, cut connection, API server restart) resumes
exactly where it stopped: no event is lost or repeated. When the server says 410 Gone (that
resourceVersion is compacted away) it relists **and diffs** the new list against its cache: objects
changed during the gap come as MODIFIED, objects deleted during the gap as DELETED (no Python client
does this; they only restart the watch). Errors back off (0.2 s doubling to 10 s, with jitter; reset
after a healthy watch). `on_events(events)` gets each watch event alone and a relist's diff as one list.
An `optional` informer (a kind whose CRD a cluster may lack) takes a 404 list as an empty one, is
synced, and lists again after a backoff until the kind is served.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from smimesh.sources.kubernetes.client import Gone, KubeApiError, KubeClient, Obj, error_from

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    obj: Obj
    old: Obj | None = None

    @property
    def key(self) -> Key:
        return object_key(self.obj)


def object_key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _rv(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", ""))


@dataclass
class Backoff:
    """Jittered exponential back-off: `next()` -> seconds to wait; `reset()` after a success."""

    first: float = 0.2
    cap: float = 10.0
    _current: float = 0.0

    def next(self) -> float:
        self._current = min(self.cap, self._current * 2 if self._current else self.first)
        return self._current * (0.5 + random.random() / 2)

    def reset(self) -> None:
        self._current = 0.0


@dataclass
class InformerStats:
    lists: int = 0
    watches: int = 0
    gone: int = 0
    errors: int = 0
    events: int = 0
    last_error: str = ""


@dataclass
class Informer:
    """See the module docstring. `run()` until cancelled; `synced` is set after the first list."""

    client: KubeClient
    path: str
    on_events: Callable[[list[Event]], Awaitable[None]]
    name: str = ""
    watch_timeout_s: int = 300
    backoff: Backoff = field(default_factory=Backoff)
    cache: dict[Key, Obj] = field(default_factory=dict)
    resource_version: str | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    stats: InformerStats = field(default_factory=InformerStats)
    optional: bool = False  # a kind whose CRD may be missing (404): then none of it, looked for again

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                if self.resource_version is None:
                    await self.relist()
                if self.resource_version is None:  # optional and not served: look again later
                    await asyncio.sleep(self.backoff.next())
                    continue
                quiet = await self.watch_once()
            except Gone as exc:
                self.stats.gone += 1
                log.info("%s: %s; relisting", self.name or self.path, exc.message)
                self.resource_version = None
                continue
            except (KubeApiError, httpx.HTTPError, ValueError, KeyError) as exc:
                await self._failed(exc)
                continue
            # A watch the server ends at once, again and again, must not spin: back off then too.
            if quiet and time.monotonic() - started < 1.0:
                await asyncio.sleep(self.backoff.next())
            else:
                self.backoff.reset()

    async def _failed(self, exc: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, KubeApiError) and exc.code == 404:
            self.stats.last_error = (
                f"{self.path} is not served: is its CRD installed? (smimesh install | kubectl apply -f -)"
            )
        delay = self.backoff.next()
        log.warning("%s: %s; retrying in %.1fs", self.name or self.path, self.stats.last_error, delay)
        await asyncio.sleep(delay)

    async def relist(self) -> None:
        try:
            body = await self.client.list_objects(self.path)
        except KubeApiError as exc:
            if not (self.optional and exc.code == 404):
                raise
            body = {"items": [], "metadata": {"resourceVersion": None}}  # not served: none of this kind
        self.stats.lists += 1
        fresh = {object_key(obj): obj for obj in body.get("items") or []}
        events = [Event("DELETED", old) for key, old in self.cache.items() if key not in fresh]
        for key, obj in fresh.items():
            old = self.cache.get(key)
            if old is None:
                events.append(Event("ADDED", obj))
            elif _rv(old) != _rv(obj):
                events.append(Event("MODIFIED", obj, old))
        self.cache = fresh
        if events:
            await self.on_events(events)
        listed = (body.get("metadata") or {}).get("resourceVersion", "")
        self.resource_version = None if listed is None else str(listed)
        self.synced.set()

    async def watch_once(self) -> bool:
        """One watch request, applied event by event; True if it brought nothing at all."""
        params = {
            "resourceVersion": self.resource_version or "",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout_s),
        }
        self.stats.watches += 1
        quiet = True
        async for event in self.client.watch(self.path, params):
            quiet = False
            await self._apply(str(event.get("type")), dict(event.get("object") or {}))
        return quiet

    async def _apply(self, kind: str, obj: Obj) -> None:
        if kind == "ERROR":
            raise error_from(int(obj.get("code") or 500), obj)
        if kind != "BOOKMARK":
            key = object_key(obj)
            old = self.cache.pop(key, None) if kind == "DELETED" else self.cache.get(key)
            if kind != "DELETED":
                self.cache[key] = obj
            self.stats.events += 1
            await self.on_events([Event(kind, obj, old)])
        self.resource_version = _rv(obj) or self.resource_version
