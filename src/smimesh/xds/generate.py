"""`generate(view)`: a sidecar's whole Envoy config (LDS, RDS, CDS, EDS) from its frozen `ProxyView`.

Pure: the same view always yields equal resources, and pieces shared between proxies are the very
same message objects (cached per content in the per-type modules, and per outbound set here), so
the snapshot layer can serialize each of them once. Returned messages must be treated as immutable.
"""

from __future__ import annotations

from functools import lru_cache

from google.protobuf.message import Message

from smimesh.mesh.model import Protocol
from smimesh.mesh.view import InboundSpec, OutboundSpec, ProxyView
from smimesh.xds import (
    clusters,
    egress,
    endpoints,
    ingress,
    listeners,
    names,
    resilience,
    routes,
    transparent,
    type_urls,
    udp,
)


def _inbound_listener(spec: InboundSpec) -> Message:
    return udp.inbound_listener(spec) if spec.protocol is Protocol.UDP else listeners.inbound_listener(spec)


def _listeners(view: ProxyView) -> list[Message]:
    found: list[Message] = []
    if view.node.outbound_http_port:
        found.append(listeners.outbound_http_listener(view.node.host, view.node.outbound_http_port))
    for upstream in view.tcp_upstreams:
        listener = listeners.tcp_upstream_listener(upstream)
        if listener is not None:
            found.append(listener)
    found.extend(udp.upstream_listener(upstream) for upstream in view.udp_upstreams)
    found.extend(_inbound_listener(spec) for spec in view.inbound)
    if view.ingress is not None:
        found.append(ingress.ingress_listener(view.ingress, _cluster_names(view.outbound)))
    return found


@lru_cache(maxsize=64)
def _cluster_names(spec: OutboundSpec) -> frozenset[str]:
    return frozenset(names.outbound_cluster(c.service, c.port) for c in spec.clusters)


@lru_cache(maxsize=1 << 12)
def _outbound(spec: OutboundSpec) -> tuple[tuple[Message, ...], tuple[Message, ...]]:
    """Clusters and endpoint sets of one outbound set, looked up once for every proxy sharing it."""
    found = tuple(clusters.outbound_cluster(c.service, c.port, c.protocol) for c in spec.clusters)
    return found, tuple(endpoints.load_assignment(c) for c in spec.clusters)


def _clusters(view: ProxyView) -> list[Message]:
    found: list[Message] = list(_outbound(view.outbound)[0])
    found.extend(udp.upstream_cluster(upstream) for upstream in view.udp_upstreams)
    found.extend(clusters.local_app_cluster(spec) for spec in view.inbound)
    return found


def _routes(view: ProxyView) -> list[Message]:
    return [routes.outbound_route_config(view.outbound)] if view.node.outbound_http_port else []


def generate(view: ProxyView) -> dict[str, list[Message]]:
    """Resources by type URL; every type is present (possibly empty) so a removal is also pushed."""
    resources = egress.apply(resilience.apply(generate_plain(view), view.resilience), view.egress)
    return transparent.apply(resources, view)


def generate_plain(view: ProxyView) -> dict[str, list[Message]]:
    """`generate` without the view's resilience policy (the secured generator applies it last)."""
    return {
        type_urls.LISTENER: _listeners(view),
        type_urls.ROUTE: _routes(view),
        type_urls.CLUSTER: _clusters(view),
        type_urls.ENDPOINT: list(_outbound(view.outbound)[1]),
    }


def clear_caches() -> None:
    """Forget every cached message (benchmarks measure cold builds; nothing else needs this)."""
    for cached in (
        _outbound,
        clusters.outbound_cluster,
        clusters.local_app_cluster,
        endpoints.load_assignment,
        routes.outbound_route_config,
        routes.outbound_vhosts,
        listeners.outbound_http_listener,
        listeners.tcp_upstream_listener,
        listeners.inbound_listener,
        udp.upstream_listener,
        udp.upstream_cluster,
        udp.inbound_listener,
    ):
        cached.cache_clear()
