"""What every ADS stream does, whichever protocol flavour: the event loop of one stream.

Owns `StreamBase`: it merges the proxy's requests and the cache's change notices into one queue,
identifies the node from the first request, asks the hooks to authorize it, watches the node's
snapshot while the stream lives, and makes sure its reader task never outlives the stream (no
leaked tasks, whether the proxy hangs up, the RPC is cancelled or the server stops).
Subclasses (`ads.SotwStream`, `delta.DeltaStream`) implement `handle()` and `push_changes()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Generic, Literal, TypeVar

import grpc

from smimesh.server.cache import SnapshotCache
from smimesh.server.hooks import HookChain, Push, StreamInfo
from smimesh.xds.snapshot import Snapshot

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ServerParts:
    """What the stream handlers share: the cache and the hooks (sync state and metrics among them)."""

    cache: SnapshotCache
    hooks: HookChain


class _Signal:
    """Queue markers: the node's snapshot changed; the proxy's half of the stream ended."""

    def __init__(self, name: str) -> None:
        self.name = name


SNAPSHOT_CHANGED = _Signal("snapshot-changed")
END_OF_REQUESTS = _Signal("end-of-requests")


class StreamBase(Generic[R]):
    mode: Literal["sotw", "delta"] = "sotw"

    def __init__(
        self, parts: ServerParts, context: grpc.aio.ServicerContext[R, object], stream_id: int
    ) -> None:
        self.parts = parts
        self.context = context
        self.stream_id = stream_id
        self.info = StreamInfo(stream_id, "", self.mode)
        self._events: asyncio.Queue[R | _Signal] = asyncio.Queue()
        self._change_queued = False
        self._nonce = 0

    async def serve(self, requests: AsyncIterator[R]) -> None:
        reader = asyncio.create_task(self._read(requests), name=f"ads-reader-{self.stream_id}")
        try:
            first = await self._events.get()
            if isinstance(first, _Signal):
                return
            await self._open(first)
            with self.parts.cache.watch(self.info.node_id, self._on_snapshot):
                self.parts.hooks.on_stream_open(self.info)
                try:
                    await self._loop(first)
                finally:
                    self.parts.hooks.on_stream_close(self.info)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _open(self, first: R) -> None:
        node_id = self.node_id_of(first)
        if not node_id:
            await self.context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first request must carry node.id")
        peer = self.context.peer() or ""
        metadata = [(item.key, item.value) for item in (self.context.invocation_metadata() or ())]
        if not self.parts.hooks.authorize(node_id, peer, metadata):
            await self.context.abort(grpc.StatusCode.PERMISSION_DENIED, f"node {node_id!r} is not allowed")
        self.info = StreamInfo(self.stream_id, node_id, self.mode, peer)

    async def _loop(self, first: R) -> None:
        event: R | _Signal = first
        while event is not END_OF_REQUESTS:
            if event is SNAPSHOT_CHANGED:
                self._change_queued = False
                await self.push_changes()
            elif not isinstance(event, _Signal):
                self.parts.hooks.on_request(self.info, event)
                await self.handle(event)
            event = await self._events.get()

    async def _read(self, requests: AsyncIterator[R]) -> None:
        try:
            async for request in requests:
                self._events.put_nowait(request)
        except (grpc.RpcError, asyncio.InvalidStateError):
            pass  # the proxy went away mid-read: same as hanging up
        finally:
            self._events.put_nowait(END_OF_REQUESTS)

    def _on_snapshot(self, snapshot: Snapshot | None) -> None:
        # Coalesce: one pending notice is enough, the handler reads the latest snapshot anyway.
        if not self._change_queued:
            self._change_queued = True
            self._events.put_nowait(SNAPSHOT_CHANGED)

    def snapshot(self) -> Snapshot | None:
        return self.parts.cache.get_snapshot(self.info.node_id)

    def next_nonce(self) -> str:
        self._nonce += 1
        return str(self._nonce)

    async def send(self, response: object, push: Push, started: float) -> None:
        await self.context.write(response)
        self.parts.hooks.on_response(self.info, replace(push, duration_s=time.perf_counter() - started))

    def node_id_of(self, request: R) -> str:
        return str(request.node.id)  # type: ignore[attr-defined]

    async def handle(self, request: R) -> None:
        raise NotImplementedError

    async def push_changes(self) -> None:
        raise NotImplementedError
