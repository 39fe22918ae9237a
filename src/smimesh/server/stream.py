"""What every ADS stream does, whichever protocol flavour: the event loop of one stream.

Owns `StreamBase`: it merges the proxy's requests and the cache's change notices into one queue,
identifies the node from the first request, asks the hooks to authorize it, watches the node's
snapshot while the stream lives, and makes sure its reader task never outlives the stream (no
leaked tasks, whether the proxy hangs up, the RPC is cancelled or the server stops).
It also owns the resend of refused configs: a NACK whose message `retry.may_be_transient` is
resent after a backoff (1 s doubling to 30 s) until it is accepted or a new version supersedes it
(a new version is sent at once, whatever the backoff). Subclasses (`ads.SotwStream`,
`delta.DeltaStream`) implement `handle()`, `push_changes()` and `resend()`, and report each answer
through `accepted()` / `refused()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Generic, Literal, TypeVar

import grpc

from smimesh.server.cache import SnapshotCache
from smimesh.server.hooks import HookChain, Push, StreamInfo
from smimesh.server.retry import RetryBackoff, may_be_transient
from smimesh.server.shared import Mailbox, SharedNames
from smimesh.xds.snapshot import Snapshot

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ServerParts:
    """What the stream handlers share: the cache, the hooks (sync state and metrics among them) and
    the interned subscription names."""

    cache: SnapshotCache
    hooks: HookChain
    names: SharedNames = field(default_factory=SharedNames)


class _Signal:
    """Queue markers: the node's snapshot changed; the proxy's half of the stream ended."""

    def __init__(self, name: str) -> None:
        self.name = name


SNAPSHOT_CHANGED = _Signal("snapshot-changed")
END_OF_REQUESTS = _Signal("end-of-requests")


@dataclass(frozen=True, slots=True)
class _Resend:
    """Queue marker: the backoff after a NACK of `type_url` is over, send it again."""

    type_url: str


class StreamBase(Generic[R]):
    mode: Literal["sotw", "delta"] = "sotw"

    def __init__(
        self, parts: ServerParts, context: grpc.aio.ServicerContext[R, object], stream_id: int
    ) -> None:
        self.parts = parts
        self.context = context
        self.stream_id = stream_id
        self.info = StreamInfo(stream_id, "", self.mode)
        self._events: Mailbox[R | _Signal | _Resend] = Mailbox()
        self._change_queued = False
        self._nonce = 0
        self._backoff: dict[str, RetryBackoff] = {}
        self._resends: dict[str, asyncio.TimerHandle] = {}

    async def serve(self, requests: AsyncIterator[R]) -> None:
        reader = asyncio.create_task(self._read(requests), name=f"ads-reader-{self.stream_id}")
        try:
            await self._serve_opened()
        finally:
            for type_url in list(self._resends):
                self._cancel_resend(type_url)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _serve_opened(self) -> None:
        first = await self._events.get()
        if isinstance(first, _Signal | _Resend):  # no resend exists before the first request
            return
        await self._open(first)
        with self.parts.cache.watch(self.info.node_id, self._on_snapshot):
            self.parts.hooks.on_stream_open(self.info)
            try:
                await self._dispatch(first)
                del first  # a request (Envoy's carries its whole node) is not kept for the stream's life
                await self._loop()
            finally:
                self.parts.hooks.on_stream_close(self.info)

    async def _open(self, first: R) -> None:
        node_id = self.node_id_of(first)
        if not node_id:
            await self.context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first request must carry node.id")
        peer = self.context.peer() or ""
        metadata = [(item.key, item.value) for item in (self.context.invocation_metadata() or ())]
        if not await self.parts.hooks.authorize_async(node_id, peer, metadata):
            await self.context.abort(grpc.StatusCode.PERMISSION_DENIED, f"node {node_id!r} is not allowed")
        self.info = StreamInfo(self.stream_id, node_id, self.mode, peer)

    async def _loop(self) -> None:
        while (event := await self._events.get()) is not END_OF_REQUESTS:
            await self._dispatch(event)
            del event  # not held while waiting for the next one

    async def _dispatch(self, event: R | _Signal | _Resend) -> None:
        if event is SNAPSHOT_CHANGED:
            self._change_queued = False
            await self.push_changes()
        elif isinstance(event, _Resend):
            self._resends.pop(event.type_url, None)
            await self.resend(event.type_url)
        elif not isinstance(event, _Signal):
            self.parts.hooks.on_request(self.info, event)
            await self.handle(event)

    async def _read(self, requests: AsyncIterator[R]) -> None:
        try:
            async for request in requests:
                self._events.put_nowait(request)
                del request  # the handler has it; not held while waiting for the next one
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

    def accepted(self, type_url: str, version: str) -> None:
        """The proxy ACKed the last response of `type_url`: no resend is due any more."""
        self._cancel_resend(type_url)
        self._backoff.pop(type_url, None)
        self.parts.hooks.on_ack(self.info, type_url, version)

    def refused(self, type_url: str, version: str, message: str) -> None:
        """The proxy NACKed it: tell the hooks, and resend later if the refusal may pass."""
        self.parts.hooks.on_nack(self.info, type_url, version, message)
        if not may_be_transient(message):
            return
        backoff = self._backoff.setdefault(type_url, RetryBackoff())
        delay = backoff.next_delay()
        self._cancel_resend(type_url)
        loop = asyncio.get_running_loop()
        self._resends[type_url] = loop.call_later(delay, self._events.put_nowait, _Resend(type_url))
        self.parts.hooks.on_resend_scheduled(self.info, type_url, version, delay, backoff.attempts)

    def superseded(self, type_url: str) -> None:
        """A new version of `type_url` is being sent: a pending resend of the old one is moot."""
        self._cancel_resend(type_url)
        self._backoff.pop(type_url, None)

    def _cancel_resend(self, type_url: str) -> None:
        handle = self._resends.pop(type_url, None)
        if handle is not None:
            handle.cancel()

    async def resend(self, type_url: str) -> None:
        """Send the refused version of `type_url` again (unless something newer went out since)."""
        raise NotImplementedError

    def node_id_of(self, request: R) -> str:
        return str(request.node.id)  # type: ignore[attr-defined]

    async def handle(self, request: R) -> None:
        raise NotImplementedError

    async def push_changes(self) -> None:
        raise NotImplementedError
