"""Per-proxy sync state: what each proxy was sent, what it accepted, what it rejected, and how fast.

Owns `TypeSync` (one xDS type of one proxy), `ProxySync` (one proxy: its streams, when it connected,
its status) and `SyncState`, a server hook that keeps them up to date. Convergence is the time from
the change that caused a snapshot (stamped by the pipeline) to the ACK that makes the proxy fully
in sync with it; listeners (the metrics) are told each one. `rows()` is what `smimesh proxy-status`
and the HTTP API show: SYNCED (everything sent was accepted), STALE (a response awaits its ACK),
NACKED (the proxy rejected the latest response of a type and keeps its last accepted config; the
row says whether and when it is resent), ERROR (the control plane could not generate its current
config: the pipeline reports it with `set_generation_problems`), DISCONNECTED (known, no stream open).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smimesh.server.hooks import Push, ServerHooks, StreamInfo
from smimesh.xds import type_urls

SYNCED, STALE, NACKED, DISCONNECTED = "SYNCED", "STALE", "NACKED", "DISCONNECTED"
ERROR = "ERROR"

ConvergenceListener = Callable[[str, float], None]


@dataclass(slots=True)
class TypeSync:
    sent_version: str = ""
    acked_version: str = ""
    nack_version: str = ""
    nack_message: str = ""
    changed_at: float = 0.0
    convergence_s: float | None = None
    nacks: int = 0  # refusals of this type since the stream opened
    resend_attempt: int = 0  # the refused version is resent (attempt n), 0 = not resent
    resend_at: float | None = None  # wall-clock seconds of the next resend

    @property
    def nacked(self) -> bool:
        """The latest response of this type was rejected (an older NACK is history)."""
        return bool(self.nack_version) and self.nack_version == self.sent_version

    @property
    def synced(self) -> bool:
        return self.acked_version == self.sent_version and not self.nacked


@dataclass(slots=True)
class ProxySync:
    node_id: str
    streams: int = 0
    mode: str = ""
    connected_since: float | None = None  # wall-clock seconds
    types: dict[str, TypeSync] = field(default_factory=dict)
    pending_change: float | None = None  # changed_at of a snapshot not yet fully accepted
    convergence_s: float | None = None
    generation_error: str = ""  # why the control plane could not generate its current config

    @property
    def status(self) -> str:
        if self.streams == 0:
            return DISCONNECTED
        if self.generation_error:
            return ERROR
        if any(sync.nacked for sync in self.types.values()):
            return NACKED
        return SYNCED if all(sync.synced for sync in self.types.values()) else STALE

    @property
    def nack_message(self) -> str:
        return next((sync.nack_message for sync in self.types.values() if sync.nacked), "")

    def to_row(self) -> dict[str, Any]:
        since = self.connected_since
        return {
            "node_id": self.node_id,
            "status": self.status,
            "streams": self.streams,
            "mode": self.mode,
            "connected_since": _iso(since),
            "types": {type_urls.short_name(url): type_row(sync) for url, sync in self._ordered_types()},
            "nack": self.nack_message or None,
            "generation_error": self.generation_error or None,
            "convergence_ms": None if self.convergence_s is None else round(self.convergence_s * 1000, 3),
        }

    def _ordered_types(self) -> list[tuple[str, TypeSync]]:
        return sorted(self.types.items(), key=lambda item: type_urls.push_rank(item[0]))


def type_row(sync: TypeSync) -> dict[str, Any]:
    """One type of one proxy, JSON-able (`proxy-status`, the API, `apply`'s delivery report)."""
    resend = sync.nacked and sync.resend_at is not None
    return {
        "sent": sync.sent_version,
        "acked": sync.acked_version,
        "nack": sync.nack_message if sync.nacked else None,
        "nacks": sync.nacks,
        "resend": {"attempt": sync.resend_attempt, "at": _iso(sync.resend_at)} if resend else None,
    }


def _iso(wall: float | None) -> str | None:
    return datetime.fromtimestamp(wall, UTC).isoformat() if wall else None


class SyncState(ServerHooks):
    """Sync state of every proxy that ever opened a stream (a server hook)."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time
    ) -> None:
        self.proxies: dict[str, ProxySync] = {}
        self.generation_problems: dict[str, str] = {}
        self.convergence_listeners: list[ConvergenceListener] = []
        self._clock = clock
        self._wall = wall

    def get(self, node_id: str) -> ProxySync | None:
        return self.proxies.get(node_id)

    def status(self, node_id: str) -> str:
        proxy = self.proxies.get(node_id)
        return proxy.status if proxy else DISCONNECTED

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-able row per proxy, sorted by node id."""
        return [self.proxies[node_id].to_row() for node_id in sorted(self.proxies)]

    def forget(self, node_id: str) -> None:
        """Drop a proxy that is gone for good (its instance was removed and no stream is open)."""
        proxy = self.proxies.get(node_id)
        if proxy is not None and proxy.streams == 0:
            del self.proxies[node_id]

    def set_generation_problems(self, problems: dict[str, str]) -> None:
        """The sidecars whose current config the pipeline could not generate, and why (all of them)."""
        self.generation_problems = dict(problems)
        for node_id, proxy in self.proxies.items():
            proxy.generation_error = problems.get(node_id, "")

    def _proxy(self, node_id: str) -> ProxySync:
        proxy = self.proxies.get(node_id)
        if proxy is None:
            proxy = self.proxies[node_id] = ProxySync(node_id)
            proxy.generation_error = self.generation_problems.get(node_id, "")
        return proxy

    def connected_count(self) -> int:
        return sum(1 for proxy in self.proxies.values() if proxy.streams > 0)

    def on_stream_open(self, stream: StreamInfo) -> None:
        proxy = self._proxy(stream.node_id)
        if proxy.streams == 0:
            proxy.connected_since = self._wall()
        proxy.streams += 1
        proxy.mode = stream.mode

    def on_stream_close(self, stream: StreamInfo) -> None:
        proxy = self.proxies.get(stream.node_id)
        if proxy is not None:
            proxy.streams = max(0, proxy.streams - 1)
            if proxy.streams == 0:
                proxy.connected_since = None

    def on_response(self, stream: StreamInfo, push: Push) -> None:
        proxy = self._proxy(stream.node_id)
        sync = proxy.types.setdefault(push.type_url, TypeSync())
        sync.sent_version, sync.changed_at = push.version, push.changed_at
        if push.changed_at and (proxy.pending_change is None or push.changed_at > proxy.pending_change):
            proxy.pending_change = push.changed_at

    def on_ack(self, stream: StreamInfo, type_url: str, version: str) -> None:
        proxy = self.proxies.get(stream.node_id)
        sync = proxy.types.get(type_url) if proxy else None
        if proxy is None or sync is None:
            return
        sync.acked_version = version
        if sync.nack_version == version:  # a resend of the refused version was accepted after all
            sync.nack_version = ""
        now = self._clock()
        if sync.synced and sync.changed_at:
            sync.convergence_s = now - sync.changed_at
        if proxy.pending_change is not None and proxy.status == SYNCED:
            proxy.convergence_s = now - proxy.pending_change
            proxy.pending_change = None
            for listener in self.convergence_listeners:
                listener(proxy.node_id, proxy.convergence_s)

    def on_nack(self, stream: StreamInfo, type_url: str, version: str, message: str) -> None:
        proxy = self._proxy(stream.node_id)
        sync = proxy.types.setdefault(type_url, TypeSync())
        sync.nack_version, sync.nack_message = version, message
        sync.nacks += 1
        sync.resend_at = None

    def on_resend_scheduled(
        self, stream: StreamInfo, type_url: str, version: str, delay_s: float, attempt: int
    ) -> None:
        sync = self._proxy(stream.node_id).types.setdefault(type_url, TypeSync())
        sync.resend_attempt, sync.resend_at = attempt, self._wall() + delay_s
