"""`generate(view)`: a sidecar's whole Envoy config (LDS, RDS, CDS, EDS, and SDS when secured).

One path: given a `ProxyView` it makes the plain config (no mTLS, no RBAC: a setting, used by tests
of routing and by `explain`); given an `xds.security.SecureView` (what `smimesh up` serves) the same
generators add mTLS, SPIFFE validation and RBAC through their seams (`listeners.inbound_*`,
`clusters.upstream_transport_socket`, `inbound_access.route_config`) and the SDS secrets are added.

Pure: the same view always yields equal resources, and pieces shared between proxies are the very
same message objects (cached per content in the per-type modules, and per outbound set here), so
the snapshot layer can serialize each of them once. Returned messages must be treated as immutable.
"""

from __future__ import annotations

from functools import lru_cache

from google.protobuf.message import Message

from smimesh.identity.bundle import IdentityBundle
from smimesh.mesh.model import Protocol
from smimesh.mesh.view import InboundSpec, OutboundSpec, ProxyView
from smimesh.xds import (
    clusters,
    egress,
    endpoints,
    inbound_access,
    ingress,
    listeners,
    names,
    rbac,
    resilience,
    routes,
    secrets,
    transparent,
    type_urls,
    udp,
)
from smimesh.xds.inbound_access import InboundSecurity
from smimesh.xds.rbac import InboundAccess
from smimesh.xds.security import SecureView, UpstreamPeers


def _inbound_listener(spec: InboundSpec, security: InboundSecurity | None) -> Message:
    if spec.protocol is Protocol.UDP:
        return udp.inbound_listener(spec)  # no TLS for UDP: its access is enforced at the caller
    return listeners.inbound_listener(spec, security)


Inbound = list[tuple[InboundSpec, InboundSecurity | None]]


def _inbound(view: ProxyView, security: SecureView | None) -> Inbound:
    """Each inbound port with its access-control input (None for every port when plain)."""
    if security is None:
        return [(spec, None) for spec in view.inbound]
    found = zip(view.inbound, security.inbound_access, strict=True)
    to_control_plane = view.node.logs_to_control_plane
    return [
        (spec, InboundSecurity(access, security.own, security.mtls, to_control_plane))
        for spec, access in found
    ]


def _listeners(view: ProxyView, security: SecureView | None) -> list[Message]:
    found: list[Message] = []
    if view.node.outbound_http_port:
        node = view.node
        found.append(
            listeners.outbound_http_listener(node.host, node.outbound_http_port, node.logs_to_control_plane)
        )
    for upstream in view.tcp_upstreams:
        listener = listeners.tcp_upstream_listener(upstream)
        if listener is not None:
            found.append(listener)
    found.extend(udp.upstream_listener(upstream) for upstream in view.udp_upstreams)
    found.extend(_inbound_listener(spec, secured) for spec, secured in _inbound(view, security))
    if view.ingress is not None:
        found.append(ingress.ingress_listener(view.ingress, _cluster_names(view.outbound)))
    return found


@lru_cache(maxsize=64)
def _cluster_names(spec: OutboundSpec) -> frozenset[str]:
    return frozenset(names.outbound_cluster(c.service, c.port) for c in spec.clusters)


@lru_cache(maxsize=1 << 12)
def _outbound_clusters(
    spec: OutboundSpec, trust_domain: str | None, peers: UpstreamPeers | None
) -> tuple[Message, ...]:
    """The clusters of one outbound set (mTLS to `peers` when `trust_domain` is set), built once for
    every proxy sharing them."""
    by_name = dict(peers.by_cluster) if peers is not None else {}

    def tls(name: str) -> clusters.UpstreamTls | None:
        return None if trust_domain is None else clusters.UpstreamTls(trust_domain, by_name.get(name, ()))

    named = [(names.outbound_cluster(c.service, c.port), c) for c in spec.clusters]
    return tuple(clusters.outbound_cluster(c.service, c.port, c.protocol, tls(name)) for name, c in named)


@lru_cache(maxsize=1 << 12)
def _outbound_endpoints(spec: OutboundSpec) -> tuple[Message, ...]:
    return tuple(endpoints.load_assignment(c) for c in spec.clusters)


def _clusters(view: ProxyView, security: SecureView | None) -> list[Message]:
    if security is None:
        found: list[Message] = list(_outbound_clusters(view.outbound, None, None))
    else:
        trust_domain = security.own.trust_domain
        found = list(_outbound_clusters(view.outbound, trust_domain, security.upstream_peers))
    found.extend(udp.upstream_cluster(upstream) for upstream in view.udp_upstreams)
    found.extend(clusters.local_app_cluster(spec) for spec in view.inbound)
    if security is not None:  # the counted routes' clusters (RBAC on); no InboundSecurity needed here
        for spec, access in zip(view.inbound, security.inbound_access, strict=True):
            found.extend(_route_clusters(spec, access) if spec.protocol.is_http else ())
    return found


@lru_cache(maxsize=1 << 12)
def _route_clusters(spec: InboundSpec, access: InboundAccess) -> tuple[Message, ...]:
    """The clusters of the port's counted routes: one per route `_secured_inbound_route` makes for the
    same access (so a cluster is in CDS exactly when its route is in RDS), built once per content."""
    return tuple(clusters.route_cluster(spec, name) for name in inbound_access.counted_route_names(access))


def _routes(view: ProxyView, security: SecureView | None) -> list[Message]:
    found: list[Message] = []
    if view.node.outbound_http_port:
        found.append(routes.outbound_route_config(view.outbound))
    for spec, secured in _inbound(view, security):
        if secured is not None and spec.protocol.is_http:
            route = _secured_inbound_route(spec.name, secured.access)
            found.extend([route] if route is not None else [])
    return found


@lru_cache(maxsize=1 << 12)
def _secured_inbound_route(port_name: str, access: InboundAccess) -> Message | None:
    """The inbound route configuration with its port's RBAC, once per (port name, access): it names
    no proxy's own ports, so the replicas of a service share one message, and a change elsewhere (a
    split) gives each sidecar the same object again, which is neither rebuilt nor serialized again.
    Keyed by the port name because the plain route is made from it alone
    (`listeners.port_route_config`): a hit builds nothing, not even the plain route."""
    return inbound_access.route_config(listeners.port_route_config(port_name), access)


@lru_cache(maxsize=1 << 12)
def _secrets(bundle: IdentityBundle) -> tuple[Message, ...]:
    return secrets.own_secrets(bundle)


def generate(view: ProxyView | SecureView) -> dict[str, list[Message]]:
    """Resources by type URL; every type is present (possibly empty) so a removal is also pushed."""
    base, security = (view.base, view) if isinstance(view, SecureView) else (view, None)
    # A pod's egress is enforced on its capture listener (transparent.py), not on an HTTP proxy.
    proxy_egress = None if base.node.transparent else base.egress
    resources = egress.apply(resilience.apply(_resources(base, security), base.resilience), proxy_egress)
    return transparent.apply(resources, base)


def generate_plain(view: ProxyView) -> dict[str, list[Message]]:
    """The plain config before the resilience, egress and transparent steps (tests compare with it)."""
    return _resources(view, None)


def _resources(base: ProxyView, security: SecureView | None) -> dict[str, list[Message]]:
    resources = {
        type_urls.LISTENER: _listeners(base, security),
        type_urls.ROUTE: _routes(base, security),
        type_urls.CLUSTER: _clusters(base, security),
        type_urls.ENDPOINT: list(_outbound_endpoints(base.outbound)),
    }
    if security is not None:
        bundle = security.bundle
        resources[type_urls.SECRET] = list(_secrets(bundle)) if bundle is not None else []
    return resources


def clear_caches() -> None:
    """Forget every cached message (benchmarks measure cold builds; nothing else needs this)."""
    for cached in (
        _outbound_clusters,
        _outbound_endpoints,
        _secrets,
        _secured_inbound_route,
        _route_clusters,
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
        rbac.http_rbac_filter,
    ):
        cached.cache_clear()
