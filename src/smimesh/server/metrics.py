"""Prometheus metrics of the control plane itself (not of the mesh's traffic: that is telemetry/).

Owns `ControlPlaneMetrics`, a server hook with its own `CollectorRegistry` (so several servers in
one process, as in tests, never collide in the global registry): responses pushed and their build
+ write time, ACKs, NACKs, connected proxies and streams, and the change -> ACK convergence time
histogram fed by `SyncState`. `render()` gives the text exposition the HTTP API serves.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from smimesh.server.hooks import Push, ServerHooks, StreamInfo
from smimesh.xds import type_urls

# Convergence targets are sub-second; the buckets resolve 1 ms .. 30 s.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ControlPlaneMetrics(ServerHooks):
    """The control plane's Prometheus metrics, updated as a server hook."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        reg = self.registry
        self.pushes = Counter("smimesh_xds_pushes", "xDS responses sent", ["type"], registry=reg)
        self.push_seconds = Histogram(
            "smimesh_xds_push_seconds",
            "Time to build and write one xDS response",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.convergence_seconds = Histogram(
            "smimesh_xds_convergence_seconds",
            "Time from a configuration change to the ACK that puts a proxy in sync with it",
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.acks = Counter("smimesh_xds_acks", "xDS responses accepted by proxies", ["type"], registry=reg)
        self.nacks = Counter("smimesh_xds_nacks", "xDS responses rejected by proxies", ["type"], registry=reg)
        self.connected_proxies = Gauge(
            "smimesh_xds_connected_proxies", "Proxies with an open ADS stream", registry=reg
        )
        self.streams = Gauge("smimesh_xds_streams", "Open ADS streams", registry=reg)
        self._streams_per_node: dict[str, int] = {}

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe_convergence(self, node_id: str, seconds: float) -> None:
        self.convergence_seconds.observe(seconds)

    def on_stream_open(self, stream: StreamInfo) -> None:
        self.streams.inc()
        count = self._streams_per_node.get(stream.node_id, 0) + 1
        self._streams_per_node[stream.node_id] = count
        self.connected_proxies.set(len(self._streams_per_node))

    def on_stream_close(self, stream: StreamInfo) -> None:
        self.streams.dec()
        count = self._streams_per_node.get(stream.node_id, 1) - 1
        if count <= 0:
            self._streams_per_node.pop(stream.node_id, None)
        else:
            self._streams_per_node[stream.node_id] = count
        self.connected_proxies.set(len(self._streams_per_node))

    def on_response(self, stream: StreamInfo, push: Push) -> None:
        self.pushes.labels(type_urls.short_name(push.type_url)).inc()
        self.push_seconds.observe(push.duration_s)

    def on_ack(self, stream: StreamInfo, type_url: str, version: str) -> None:
        self.acks.labels(type_urls.short_name(type_url)).inc()

    def on_nack(self, stream: StreamInfo, type_url: str, version: str, message: str) -> None:
        self.nacks.labels(type_urls.short_name(type_url)).inc()
