"""An ADS client for tests and benchmarks that behaves like Envoy on the wire (SotW or delta).

Owns `AdsClient`: it opens one ADS stream for one node, subscribes (wildcard LDS/CDS, named RDS/EDS),
and answers every response as Envoy does: it applies it and ACKs (SotW: `version_info` + the nonce;
delta: the nonce), or, for a type it has been told to reject, NACKs with an `error_detail` and keeps
its last accepted config. With `follow=True` it subscribes to the route configurations its
listeners name and the endpoint sets its EDS clusters name, as Envoy does. It can reconnect with
what it holds (`initial_resource_versions` in delta, the accepted `version_info` in SotW).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import grpc
from envoy.config.cluster.v3 import cluster_pb2  # noqa: F401 - registers the type for _name_of
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: F401
from envoy.config.listener.v3 import listener_pb2  # noqa: F401
from envoy.config.route.v3 import route_pb2  # noqa: F401
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2  # noqa: F401
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import any_pb2, symbol_database
from google.rpc import status_pb2

from smimesh.xds import type_urls
from smimesh.xds.snapshot import cluster_eds_names, listener_route_names

Mode = Literal["sotw", "delta"]
_FOLLOWS = {
    type_urls.LISTENER: (type_urls.ROUTE, listener_route_names),
    type_urls.CLUSTER: (type_urls.ENDPOINT, cluster_eds_names),
}


@dataclass
class TypeState:
    """What the client holds of one type, and how the server's responses to it went."""

    resources: dict[str, any_pb2.Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # delta: per-resource versions
    version: str = ""  # accepted version_info / system_version_info
    names: set[str] = field(default_factory=set)  # named subscription (empty = wildcard)
    responses: int = 0
    acks: int = 0
    nacks: int = 0
    last_nonce: str = ""
    last_removed: list[str] = field(default_factory=list)
    last_updated: list[str] = field(default_factory=list)  # delta: the names the last response carried
    acked_at: float = 0.0  # monotonic time of the last ACK sent


class AdsClient:
    def __init__(
        self,
        node_id: str,
        *,
        address: str = "",
        channel: grpc.aio.Channel | None = None,
        mode: Mode = "sotw",
        follow: bool = False,
        cluster: str = "test",
        channel_options: list[tuple[str, object]] | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.node_id, self.mode, self.follow = node_id, mode, follow
        self.node = base_pb2.Node(id=node_id, cluster=cluster)
        self._address, self._channel, self._own_channel = address, channel, channel is None
        self._channel_options = channel_options or []
        self.metadata = metadata  # gRPC initial metadata, as Envoy sends its bootstrap's initial_metadata
        self.types: dict[str, TypeState] = {}
        self.reject: dict[str, str] = {}  # type_url -> error text this client NACKs with
        self._outbox: asyncio.Queue[object] = asyncio.Queue()
        self._receiver: asyncio.Task[None] | None = None
        self._call: grpc.aio.StreamStreamCall | None = None
        self._changed = asyncio.Event()
        self.closed_with: grpc.StatusCode | None = None

    # --- lifecycle ---
    async def connect(self) -> AdsClient:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._address, options=self._channel_options)
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        method = stub.DeltaAggregatedResources if self.mode == "delta" else stub.StreamAggregatedResources
        self._outbox = asyncio.Queue()
        self._first = True
        self._call = method(self._requests(), metadata=self.metadata or None)
        self._receiver = asyncio.create_task(self._receive(self._call), name=f"ads-client-{self.node_id}")
        return self

    async def close(self) -> None:
        """End the stream (and the channel if this client opened it); no task is left behind."""
        await self._end_stream()
        if self._own_channel and self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def reconnect(self) -> None:
        """A new stream that announces what the client holds, like Envoy after losing the server."""
        await self._end_stream()
        await self.connect()
        for type_url, state in self.types.items():
            await self._resubscribe(type_url, state)

    async def _end_stream(self) -> None:
        if self._call is not None:
            self._outbox.put_nowait(None)
            self._call.cancel()
        if self._receiver is not None:
            self._receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._receiver
        self._call = self._receiver = None

    # --- subscriptions ---
    async def subscribe(self, type_url: str, names: Iterable[str] = ()) -> None:
        state = self.types.setdefault(type_url, TypeState())
        new = set(names) - state.names
        state.names |= new
        if self.mode == "delta":
            self._send(
                discovery_pb2.DeltaDiscoveryRequest(type_url=type_url, resource_names_subscribe=sorted(new))
            )
        else:
            self._send(self._sotw_request(type_url, state))

    async def unsubscribe(self, type_url: str, names: Iterable[str]) -> None:
        state = self.types.setdefault(type_url, TypeState())
        gone = set(names) & state.names
        state.names -= gone
        for name in gone:
            state.resources.pop(name, None)
            state.versions.pop(name, None)
        if self.mode == "delta":
            self._send(
                discovery_pb2.DeltaDiscoveryRequest(
                    type_url=type_url, resource_names_unsubscribe=sorted(gone)
                )
            )
        else:
            self._send(self._sotw_request(type_url, state))

    async def _resubscribe(self, type_url: str, state: TypeState) -> None:
        if self.mode == "delta":
            request = discovery_pb2.DeltaDiscoveryRequest(
                type_url=type_url,
                resource_names_subscribe=sorted(state.names),
                initial_resource_versions=state.versions,
            )
            self._send(request)
        else:
            self._send(self._sotw_request(type_url, state))

    def _sotw_request(
        self, type_url: str, state: TypeState, nonce: str = ""
    ) -> discovery_pb2.DiscoveryRequest:
        return discovery_pb2.DiscoveryRequest(
            type_url=type_url,
            version_info=state.version,
            resource_names=sorted(state.names),
            response_nonce=nonce,
        )

    # --- waiting ---
    async def wait_for(self, condition: Callable[[AdsClient], bool], within: float = 10.0) -> None:
        """Until `condition(self)` holds; raises TimeoutError with what the client holds otherwise."""
        deadline = time.monotonic() + within
        while not condition(self):
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.node_id}: condition not met; holding {self.summary()}")
            with contextlib.suppress(TimeoutError):
                # Poll too: conditions may look at the server side, which does not wake this client.
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.02))

    def state(self, type_url: str) -> TypeState:
        return self.types.setdefault(type_url, TypeState())

    def names(self, type_url: str) -> set[str]:
        return set(self.state(type_url).resources)

    def summary(self) -> dict[str, object]:
        return {
            type_urls.short_name(url): {
                "names": sorted(s.resources),
                "version": s.version,
                "acks": s.acks,
                "nacks": s.nacks,
            }
            for url, s in self.types.items()
        }

    # --- the wire ---
    def _send(self, request: object) -> None:
        if self._first:
            request.node.CopyFrom(self.node)  # type: ignore[attr-defined]
            self._first = False
        self._outbox.put_nowait(request)

    async def _requests(self) -> AsyncIterator[object]:
        while (request := await self._outbox.get()) is not None:
            yield request

    async def _receive(self, call: grpc.aio.StreamStreamCall) -> None:
        try:
            async for response in call:
                self._on_response(response)
                self._changed.set()
        except grpc.aio.AioRpcError as error:
            self.closed_with = error.code()
            self._changed.set()

    def _on_response(self, response: object) -> None:
        state = self.state(response.type_url)  # type: ignore[attr-defined]
        state.responses += 1
        state.last_nonce = response.nonce  # type: ignore[attr-defined]
        error = self.reject.get(response.type_url)  # type: ignore[attr-defined]
        if error is not None:
            state.nacks += 1
            self._send(self._nack(response, state, error))
            return
        self._apply(response, state)
        state.acks += 1
        state.acked_at = time.monotonic()
        self._send(self._ack(response, state))
        if self.follow:
            self._follow(response.type_url, state)  # type: ignore[attr-defined]

    def _apply(self, response: object, state: TypeState) -> None:
        if isinstance(response, discovery_pb2.DeltaDiscoveryResponse):
            state.last_updated = [resource.name for resource in response.resources]
            for resource in response.resources:
                state.resources[resource.name] = resource.resource
                state.versions[resource.name] = resource.version
            state.last_removed = list(response.removed_resources)
            for name in response.removed_resources:
                state.resources.pop(name, None)
                state.versions.pop(name, None)
            state.version = response.system_version_info
            return
        assert isinstance(response, discovery_pb2.DiscoveryResponse)
        state.resources = {_name_of(packed): packed for packed in response.resources}
        state.version = response.version_info

    def _ack(self, response: object, state: TypeState) -> object:
        type_url, nonce = response.type_url, response.nonce  # type: ignore[attr-defined]
        if self.mode == "delta":
            return discovery_pb2.DeltaDiscoveryRequest(type_url=type_url, response_nonce=nonce)
        return self._sotw_request(type_url, state, nonce)

    def _nack(self, response: object, state: TypeState, message: str) -> object:
        detail = status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message=message)
        request = self._ack(response, state)
        request.error_detail.CopyFrom(detail)  # type: ignore[attr-defined]
        return request

    def _follow(self, type_url: str, state: TypeState) -> None:
        """Subscribe to what the accepted listeners/clusters reference, as Envoy does."""
        if type_url not in _FOLLOWS:
            return
        target, referenced = _FOLLOWS[type_url]
        wanted = {name for packed in state.resources.values() for name in referenced(packed)}
        current = self.state(target).names
        if wanted - current:
            self._send_subscription(target, wanted - current)

    def _send_subscription(self, type_url: str, names: set[str]) -> None:
        state = self.state(type_url)
        state.names |= names
        if self.mode == "delta":
            self._send(
                discovery_pb2.DeltaDiscoveryRequest(type_url=type_url, resource_names_subscribe=sorted(names))
            )
        else:
            self._send(self._sotw_request(type_url, state))


def _name_of(packed: any_pb2.Any) -> str:
    message = symbol_database.Default().GetSymbol(packed.TypeName())()
    packed.Unpack(message)
    return str(message.cluster_name if packed.TypeName().endswith("ClusterLoadAssignment") else message.name)
