"""Observing and gating the xDS server: go-control-plane's `Callbacks`, in Python.

Owns `StreamInfo` (what a hook learns about a stream), `ServerHooks` (no-op base class: override
what you need) and `HookChain` (fans every event out to several hooks; `authorize` needs every
hook to allow). The sync state and the Prometheus metrics are hooks; so is anything a test or a
later issue (node identity checks) wants to plug in. Hooks run on the event loop: keep them quick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from envoy.service.discovery.v3 import discovery_pb2

Metadata = Sequence[tuple[str, str | bytes]]
Request: TypeAlias = "discovery_pb2.DiscoveryRequest | discovery_pb2.DeltaDiscoveryRequest"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """One ADS stream: its number in this server, the node it serves, its flavour and the peer address."""

    stream_id: int
    node_id: str
    mode: Literal["sotw", "delta"]
    peer: str = ""


class ServerHooks:
    """Callbacks of the ADS server; every method is a no-op here."""

    def authorize(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        """Called once per stream, on its first request; False closes the stream (PERMISSION_DENIED).

        The seam for node identity checks (a later issue): the default allows every node.
        """
        return True

    async def authorize_async(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        """What the stream awaits: `authorize` unless a hook must ask someone (TokenReview)."""
        return self.authorize(node_id, peer, metadata)

    def on_stream_open(self, stream: StreamInfo) -> None:
        """A stream has identified its node and been authorized."""

    def on_stream_close(self, stream: StreamInfo) -> None:
        """A stream has ended (the proxy went away, or the server is stopping)."""

    def on_request(self, stream: StreamInfo, request: Request) -> None:
        """Every request received, before it is acted on."""

    def on_response(self, stream: StreamInfo, push: Push) -> None:
        """A response has been written to the stream."""

    def on_ack(self, stream: StreamInfo, type_url: str, version: str) -> None:
        """The proxy accepted the response it was last sent for `type_url`."""

    def on_nack(self, stream: StreamInfo, type_url: str, version: str, message: str) -> None:
        """The proxy rejected `version` of `type_url` with Envoy's error text `message`."""

    def on_resend_scheduled(
        self, stream: StreamInfo, type_url: str, version: str, delay_s: float, attempt: int
    ) -> None:
        """The refused `version` will be sent again in `delay_s` (the refusal may be transient)."""


@dataclass(frozen=True, slots=True)
class Push:
    """What one response carried, for the hooks."""

    type_url: str
    version: str
    nonce: str
    resources: int
    removed: int = 0
    changed_at: float = 0.0  # monotonic time of the change that caused the snapshot (0 = unknown)
    duration_s: float = 0.0  # building and writing the response


class HookChain(ServerHooks):
    """Several hooks behaving as one."""

    def __init__(self, hooks: Sequence[ServerHooks] = ()) -> None:
        self.hooks = list(hooks)

    def authorize(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        return all(hook.authorize(node_id, peer, metadata) for hook in self.hooks)

    async def authorize_async(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        for hook in self.hooks:
            if not await hook.authorize_async(node_id, peer, metadata):
                return False
        return True

    def on_stream_open(self, stream: StreamInfo) -> None:
        for hook in self.hooks:
            hook.on_stream_open(stream)

    def on_stream_close(self, stream: StreamInfo) -> None:
        for hook in self.hooks:
            hook.on_stream_close(stream)

    def on_request(self, stream: StreamInfo, request: Request) -> None:
        for hook in self.hooks:
            hook.on_request(stream, request)

    def on_response(self, stream: StreamInfo, push: Push) -> None:
        for hook in self.hooks:
            hook.on_response(stream, push)

    def on_ack(self, stream: StreamInfo, type_url: str, version: str) -> None:
        for hook in self.hooks:
            hook.on_ack(stream, type_url, version)

    def on_nack(self, stream: StreamInfo, type_url: str, version: str, message: str) -> None:
        for hook in self.hooks:
            hook.on_nack(stream, type_url, version, message)

    def on_resend_scheduled(
        self, stream: StreamInfo, type_url: str, version: str, delay_s: float, attempt: int
    ) -> None:
        for hook in self.hooks:
            hook.on_resend_scheduled(stream, type_url, version, delay_s, attempt)
