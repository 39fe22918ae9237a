"""The ADS gRPC server and its state-of-the-world stream (StreamAggregatedResources).

Owns `XdsServer` (grpc.aio server on loopback serving both ADS flavours over one `SnapshotCache`,
with the sync state, metrics and any extra hooks attached; clean start/stop) and `SotwStream`
(per type: subscription, last nonce and version sent, one response in flight at a time).

SotW rules followed (xDS protocol): a request whose `response_nonce` is not the last one sent is
stale and ignored; a request with the last nonce ACKs it, or NACKs it when `error_detail` is set.
A NACK is recorded with Envoy's text; the proxy keeps its last accepted config. A new version is
sent at once; the refused one is resent with backoff only when the refusal may be transient
(`StreamBase.refused`), so a bad resource never loops fast.
LDS/CDS with no names are wildcard subscriptions; RDS/EDS (and SDS) name what they want.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from smimesh.server.cache import SnapshotCache
from smimesh.server.hooks import HookChain, Push, ServerHooks, StreamInfo
from smimesh.server.metrics import ControlPlaneMetrics
from smimesh.server.stream import ServerParts, StreamBase
from smimesh.server.sync import SyncState
from smimesh.xds import type_urls

_GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    # Channelz keeps a debugging node per connection (~5 KB each: memory per proxy); nothing reads it.
    ("grpc.enable_channelz", 0),
]


@dataclass(slots=True)
class _SotwType:
    names: frozenset[str] = frozenset()
    wildcard: bool = False
    nonce: str = ""
    sent_version: str = ""
    in_flight: bool = False
    sent_none: bool = False  # the response in flight carries no resource
    resubscribed: bool = True  # the subscription changed since the last response: answer it

    @property
    def unsubscribed(self) -> bool:
        """A named type the proxy wants nothing of any more (its last cluster or listener went)."""
        return not self.wildcard and not self.names


class SotwStream(StreamBase[discovery_pb2.DiscoveryRequest]):
    mode = "sotw"

    def __init__(self, parts: ServerParts, context: grpc.aio.ServicerContext, stream_id: int) -> None:
        super().__init__(parts, context, stream_id)
        self.types: dict[str, _SotwType] = {}

    async def handle(self, request: discovery_pb2.DiscoveryRequest) -> None:
        type_url = request.type_url
        state = self.types.get(type_url)
        if request.response_nonce:
            if state is None or request.response_nonce != state.nonce:
                if state is not None and not request.resource_names:
                    self._unsubscribe_all(state, type_url)
                return  # stale: answers a response that has since been superseded
            if state.in_flight:  # later requests may repeat the nonce to change subscriptions
                self._settle(state, request)
        if state is None:
            state = self.types[type_url] = _SotwType()
        self._subscribe(state, type_url, request.resource_names)
        await self._push(type_url, state)

    def _unsubscribe_all(self, state: _SotwType, type_url: str) -> None:
        """A stale request that names nothing of a named type still ends the subscription: Envoy
        sends it when it drops the last cluster (EDS) or listener (RDS) and asks nothing more."""
        self._subscribe(state, type_url, ())
        self._settle_unwatched(state, type_url)

    def _settle_unwatched(self, state: _SotwType, type_url: str) -> None:
        """Envoy accepts an empty response for a type it no longer watches WITHOUT answering it
        (xDS SotW: "no watches and no resources" is taken silently), so no ACK will ever come:
        count it as accepted, or the proxy would stay STALE forever after its last EDS cluster went."""
        if state.in_flight and state.sent_none and state.unsubscribed:
            state.in_flight = False
            self.accepted(type_url, state.sent_version)

    def _settle(self, state: _SotwType, request: discovery_pb2.DiscoveryRequest) -> None:
        state.in_flight = False
        if request.HasField("error_detail"):
            self.refused(request.type_url, state.sent_version, request.error_detail.message)
        else:
            self.accepted(request.type_url, state.sent_version)

    def _subscribe(self, state: _SotwType, type_url: str, names: Sequence[str]) -> None:
        wanted = self.parts.names.names(name for name in names if name != "*")  # shared by equal sets
        wildcard = "*" in names or (not names and type_url in type_urls.WILDCARD_TYPES)
        if wildcard != state.wildcard or (not wildcard and wanted != state.names):
            state.resubscribed = True
        state.names, state.wildcard = wanted, wildcard

    async def push_changes(self) -> None:
        for type_url in sorted(self.types, key=type_urls.push_rank):
            await self._push(type_url, self.types[type_url])

    async def resend(self, type_url: str) -> None:
        state = self.types.get(type_url)
        if state is not None:
            state.resubscribed = True  # the same version again: answer as if asked anew
            await self._push(type_url, state)

    async def _push(self, type_url: str, state: _SotwType) -> None:
        snapshot = self.snapshot()
        if state.in_flight or snapshot is None or type_url not in snapshot.resources:
            return
        version = snapshot.version(type_url)
        if version == state.sent_version and not state.resubscribed:
            return
        if version != state.sent_version:
            self.superseded(type_url)
        started = time.perf_counter()
        entries = snapshot.entries(type_url)
        chosen = (
            entries.values() if state.wildcard else [entries[n] for n in sorted(state.names) if n in entries]
        )
        nonce = self.next_nonce()
        response = discovery_pb2.DiscoveryResponse(
            version_info=version,
            type_url=type_url,
            nonce=nonce,
            resources=[entry.resource for entry in chosen],
        )
        state.nonce, state.sent_version, state.in_flight, state.resubscribed = nonce, version, True, False
        state.sent_none = not response.resources
        push = Push(type_url, version, nonce, len(response.resources), changed_at=snapshot.changed_at)
        await self.send(response, push, started)
        self._settle_unwatched(state, type_url)


class _Servicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    def __init__(self, parts: ServerParts) -> None:
        self.parts = parts
        self._ids = itertools.count(1)

    async def StreamAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await SotwStream(self.parts, context, next(self._ids)).serve(request_iterator)

    async def DeltaAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        from smimesh.server.delta import DeltaStream

        await DeltaStream(self.parts, context, next(self._ids)).serve(request_iterator)


class _ForgetRemovedNodes(ServerHooks):
    """A proxy whose node left the cache (its instance was removed) leaves the sync state when its
    last stream closes; the cache's clear listener covers the other order (closed first)."""

    def __init__(self, cache: SnapshotCache, sync: SyncState) -> None:
        self.cache, self.sync = cache, sync

    def on_stream_close(self, stream: StreamInfo) -> None:
        if self.cache.get_snapshot(stream.node_id) is None:
            self.sync.forget(stream.node_id)


class XdsServer:
    """ADS (SotW and delta) over `cache`, keeping `sync` (and `metrics`, if given) up to date."""

    def __init__(
        self,
        cache: SnapshotCache,
        sync: SyncState,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        metrics: ControlPlaneMetrics | None = None,
        hooks: Sequence[ServerHooks] = (),
        services: Sequence[grpc.GenericRpcHandler] = (),
    ) -> None:
        """`services`: more gRPC services on the same port (a controller's request-log receiver)."""
        self.cache, self.sync, self.metrics = cache, sync, metrics
        self.services = list(services)
        self.host, self.port = host, port
        chain = [sync, _ForgetRemovedNodes(cache, sync), *([metrics] if metrics else []), *hooks]
        if metrics is not None:
            sync.convergence_listeners.append(metrics.observe_convergence)
        cache.clear_listeners.append(sync.forget)
        self._parts = ServerParts(cache, HookChain(chain))
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        """Listen and serve; returns the bound port (useful with port=0)."""
        server = grpc.aio.server(options=_GRPC_OPTIONS)
        ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(_Servicer(self._parts), server)
        server.add_generic_rpc_handlers(self.services)
        self.port = server.add_insecure_port(f"{self.host}:{self.port}")
        await server.start()
        self._server = server
        return self.port

    async def stop(self, grace: float = 0.5) -> None:
        """Close every stream (proxies keep their config and reconnect later) and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace)
            await asyncio.sleep(0)  # let cancelled handlers run their finally blocks

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"
