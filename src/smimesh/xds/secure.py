"""The secured config of a sidecar: mTLS on every mesh hop, RBAC on every inbound port, SDS secrets.

Owns `SecureView` (a `ProxyView` plus what security adds: the sidecar's SPIFFE id, its inbound
mTLS mode, the access input of each inbound port, the identities expected behind each outbound
cluster, and its identity bundle) and `generate_secure(view)`, which returns the plain config of
`xds.generate` with:

- every outbound mesh cluster speaking TLS with the sidecar's own certificate (SDS) and accepting
  only a server whose URI SAN is one of the destination's endpoint identities;
- every inbound listener terminating TLS and requiring a client certificate of the trust domain
  (`strict`), or, in `permissive`, a TLS chain chosen by the TLS inspector plus a plaintext chain;
- the RBAC filter (HTTP before the router, network before tcp_proxy), a mesh-named 403 body,
  XFCC sanitized (a client's header is never trusted), denials and audit findings in the access log;
- the two SDS secrets of its identity, and nothing else.

The plain messages are shared between proxies and must not be mutated: they are copied once per
content here (lru_cache on frozen inputs), so equal inputs still share one message object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf.message import Message

from smimesh.identity.bundle import IdentityBundle
from smimesh.identity.spiffe import SpiffeId
from smimesh.mesh.model import MeshModel, Protocol
from smimesh.mesh.modes import MeshModes, MtlsMode
from smimesh.mesh.udp import udp_upstreams
from smimesh.mesh.view import ClusterSpec, InboundSpec, OutboundSpec, ProxyView, proxy_view
from smimesh.mesh.visibility import memo
from smimesh.xds import clusters, egress, listeners, names, resilience, secrets, transparent, type_urls
from smimesh.xds.access_log import connection_log
from smimesh.xds.generate import generate_plain
from smimesh.xds.protos import packed
from smimesh.xds.rbac import (
    HTTP_RBAC_FILTER,
    NETWORK_RBAC_FILTER,
    InboundAccess,
    inbound_access,
    network_rbac_filter,
)
from smimesh.xds.secure_http import secure_manager, secure_route

TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
# The SDS name of a sidecar's own certificate in its TLS contexts (Istio's "default", in spirit): each
# proxy's snapshot binds it to that proxy's identity only, so one cluster message serves every caller
# (N callers x M clusters would otherwise be N*M messages).
OWN_CERTIFICATE = "identity:self"
# Stands in for "no identity": a cluster whose service has no endpoints yet expects a peer that
# can never exist, so it fails closed rather than trusting any certificate of the trust domain.
NO_PEER = "smimesh-no-endpoints"


@dataclass(frozen=True, slots=True)
class SecureView:
    base: ProxyView
    own: SpiffeId
    mtls: MtlsMode
    inbound_access: tuple[InboundAccess, ...]  # one per `base.inbound`, same order
    upstream_peers: tuple[tuple[str, tuple[SpiffeId, ...]], ...]  # (cluster name, expected identities)
    bundle: IdentityBundle | None = None  # None until the certificate book has issued one


def _self(trust_domain: str) -> SpiffeId:
    return SpiffeId(trust_domain, NO_PEER, NO_PEER)


def _present_own_certificate(context: Any) -> Any:
    """Point a TLS context at the sidecar's own certificate by the per-proxy name `OWN_CERTIFICATE`."""
    context.common_tls_context.tls_certificate_sds_secret_configs[0].name = OWN_CERTIFICATE
    return context


@lru_cache(maxsize=1 << 14)
def secure_cluster(spec: ClusterSpec, trust_domain: str, peers: tuple[SpiffeId, ...]) -> cluster_pb2.Cluster:
    """The plain outbound cluster of `spec`, speaking mTLS with the sidecar's own certificate to one of
    `peers`. The same message serves every caller: the certificate is named per proxy, not per identity."""
    expected = peers or (_self(trust_domain),)
    context = _present_own_certificate(secrets.upstream_tls_context(_self(trust_domain), expected))
    cluster = cluster_pb2.Cluster()
    cluster.CopyFrom(clusters.outbound_cluster(spec.service, spec.port, spec.protocol))
    cluster.transport_socket.CopyFrom(secrets.transport_socket(context))
    return cluster


def _secured_filters(chain: lc.FilterChain, access: InboundAccess) -> list[lc.Filter]:
    filters: list[lc.Filter] = []
    for item in chain.filters:
        if item.name == names.HCM_FILTER:
            manager = hcm.HttpConnectionManager()
            item.typed_config.Unpack(manager)
            filters.append(lc.Filter(name=item.name, typed_config=packed(secure_manager(manager, access))))
            continue
        if item.name == names.TCP_PROXY_FILTER:
            rbac = network_rbac_filter(access)
            if rbac is not None:
                filters.append(lc.Filter(name=NETWORK_RBAC_FILTER, typed_config=packed(rbac)))
            if access.audit and access.enforce:  # audit: each connection observed (`policy suggest`)
                filters.append(_logged_tcp_proxy(item, access.port_name))
                continue
        filters.append(item)
    return filters


def _logged_tcp_proxy(item: lc.Filter, port_name: str) -> lc.Filter:
    proxy = tcp_proxy_pb2.TcpProxy()
    item.typed_config.Unpack(proxy)
    proxy.access_log.append(connection_log(port_name))
    return lc.Filter(name=item.name, typed_config=packed(proxy))


def _tls_chain(filters: list[lc.Filter], own: SpiffeId, tls_only: bool) -> lc.FilterChain:
    context = _present_own_certificate(secrets.downstream_tls_context(own))
    chain = lc.FilterChain(filters=filters, transport_socket=secrets.transport_socket(context))
    if not tls_only:
        chain.filter_chain_match.transport_protocol = "tls"
    return chain


@lru_cache(maxsize=1 << 14)
def secure_inbound_listener(
    spec: InboundSpec, access: InboundAccess, own: SpiffeId, mtls: MtlsMode
) -> listener_pb2.Listener:
    plain = listeners.inbound_listener(spec)
    listener = listener_pb2.Listener()
    listener.CopyFrom(plain)
    filters = _secured_filters(plain.filter_chains[0], access)
    del listener.filter_chains[:]
    if mtls is MtlsMode.STRICT:
        listener.filter_chains.append(_tls_chain(filters, own, tls_only=True))
        return listener
    listener.filter_chains.append(_tls_chain(filters, own, tls_only=False))
    plaintext = lc.FilterChain(filters=filters)
    plaintext.filter_chain_match.transport_protocol = "raw_buffer"
    listener.filter_chains.append(plaintext)
    inspector = lc.ListenerFilter(name=TLS_INSPECTOR, typed_config=packed(tls_inspector_pb2.TlsInspector()))
    listener.listener_filters.append(inspector)
    return listener


@lru_cache(maxsize=1 << 14)
def secure_inbound_route(spec: InboundSpec, access: InboundAccess) -> route_pb2.RouteConfiguration | None:
    """The RDS route configuration of an inbound HTTP port, with its RBAC rules (None for TCP/open)."""
    for item in listeners.inbound_listener(spec).filter_chains[0].filters:
        if item.name == names.HCM_FILTER:
            manager = hcm.HttpConnectionManager()
            item.typed_config.Unpack(manager)
            return secure_route(manager, access)
    return None


def _routes(view: SecureView, plain: list[Message]) -> list[Message]:
    pairs = zip(view.base.inbound, view.inbound_access, strict=True)
    inbound = (secure_inbound_route(spec, access) for spec, access in pairs)
    return [*plain, *(route for route in inbound if route is not None)]


def _listeners(view: SecureView, plain: list[Message]) -> list[Message]:
    inbound = {
        names.inbound_listener(spec.name): (spec, access)
        for spec, access in zip(view.base.inbound, view.inbound_access, strict=True)
        if spec.protocol is not Protocol.UDP  # no TLS for UDP: its access is enforced at the caller
    }
    found: list[Message] = []
    for listener in plain:
        entry = inbound.get(getattr(listener, "name", ""))
        found.append(listener if entry is None else secure_inbound_listener(*entry, view.own, view.mtls))
    return found


# Every sidecar of a namespace shares one `OutboundSpec` and one peers tuple per model (see
# `secure_view`), so their secured outbound clusters are built once, keyed by object identity: hashing
# the specs and peers of every service for every proxy was most of a rebuild (profiled: 1,000
# proxies x 50 services). Entries hold their keys' objects, so an id is never reused while cached.
_OutboundEntry = tuple[Any, Any, tuple[Message, ...], frozenset[str]]
_SECURED_OUTBOUND: dict[tuple[int, int, str], _OutboundEntry] = {}
_SECURED_OUTBOUND_MAX = 256


def _secured_outbound(view: SecureView) -> tuple[tuple[Message, ...], frozenset[str]]:
    """The secured outbound clusters of `view` and their names (shared by equal-object inputs)."""
    outbound, peers, trust_domain = view.base.outbound, view.upstream_peers, view.own.trust_domain
    key = (id(outbound), id(peers), trust_domain)
    entry = _SECURED_OUTBOUND.get(key)
    if entry is None or entry[0] is not outbound or entry[1] is not peers:
        by_name = dict(peers)
        named = [(names.outbound_cluster(spec.service, spec.port), spec) for spec in outbound.clusters]
        clusters = tuple(secure_cluster(spec, trust_domain, by_name.get(name, ())) for name, spec in named)
        if len(_SECURED_OUTBOUND) >= _SECURED_OUTBOUND_MAX:
            _SECURED_OUTBOUND.clear()
        entry = _SECURED_OUTBOUND[key] = (outbound, peers, clusters, frozenset(name for name, _ in named))
    return entry[2], entry[3]


def _clusters(view: SecureView, plain: list[Message]) -> list[Message]:
    """Outbound clusters secured (same order as the plain ones), the local app clusters unchanged."""
    secured, outbound = _secured_outbound(view)
    return [*secured, *(c for c in plain if getattr(c, "name", "") not in outbound)]


@lru_cache(maxsize=1 << 12)
def _secrets(bundle: IdentityBundle) -> tuple[Message, ...]:
    """The identity's certificate (under the per-proxy name) and the trust bundle."""
    certificate, trust = secrets.secrets_for(bundle)
    own = secret_pb2.Secret()
    own.CopyFrom(certificate)
    own.name = OWN_CERTIFICATE
    return own, trust


def generate_secure(view: SecureView) -> dict[str, list[Any]]:
    """`xds.generate(view.base)` with mTLS, RBAC and the identity's SDS secrets (every type present)."""
    plain = generate_plain(view.base)
    resources = dict(plain)
    resources[type_urls.LISTENER] = _listeners(view, plain[type_urls.LISTENER])
    resources[type_urls.CLUSTER] = _clusters(view, plain[type_urls.CLUSTER])
    resources[type_urls.ROUTE] = _routes(view, plain[type_urls.ROUTE])
    resources[type_urls.SECRET] = list(_secrets(view.bundle)) if view.bundle is not None else []
    secured = egress.apply(resilience.apply(resources, view.base.resilience), view.base.egress)
    return transparent.apply(secured, view.base)


def _open_copy(model: MeshModel) -> MeshModel:
    """The model with every service visible: callers route to every mesh service and the destination's
    RBAC answers (a 403 naming the mesh, or an audit log line), instead of the caller's sidecar
    answering 404 for a service it may not reach. Server-side RBAC stays the authority (SPEC-DIGEST A18)."""
    if model.permissive:
        return model
    copy: MeshModel = memo(model, "secure-visibility", lambda: replace(model, permissive=True, _memo={}))
    return copy


def _peers(model: MeshModel, spec: ClusterSpec) -> tuple[SpiffeId, ...]:
    service = model.service(spec.service)
    port = service.port(spec.port) if service else None
    identities = sorted({e.identity for e in port.endpoints}) if port else []
    return tuple(SpiffeId(model.trust_domain, i.namespace, i.service_account) for i in identities)


def _upstream_peers(model: MeshModel, outbound: OutboundSpec) -> tuple[tuple[str, tuple[SpiffeId, ...]], ...]:
    return tuple(
        (names.outbound_cluster(c.service, c.port), memo(model, ("peers", c), lambda c=c: _peers(model, c)))
        for c in outbound.clusters
    )


def secure_view(
    model: MeshModel, node_id: str, modes: MeshModes, bundle_of: Callable[[SpiffeId], IdentityBundle | None]
) -> SecureView:
    """The secured view of one sidecar (KeyError for an unknown node, like `proxy_view`)."""
    base = proxy_view(_open_copy(model), node_id)
    allowed_udp = udp_upstreams(model, model.instances[node_id])
    if allowed_udp != base.udp_upstreams:
        # UDP has no destination-side RBAC: its upstreams follow the real policies, not the open copy.
        base = replace(base, udp_upstreams=allowed_udp)
    node = base.node
    own = SpiffeId(model.trust_domain, node.identity.namespace, node.identity.service_account)
    audit = modes.audit(node.namespace)
    access = tuple(
        memo(
            model,
            ("rbac", node.identity, s.name, s.container_port, s.protocol, audit),
            lambda s=s: inbound_access(
                model, node.identity, s.name, s.container_port, s.protocol, audit=audit
            ),
        )
        for s in base.inbound
    )
    outbound = base.outbound  # shared by the namespace's sidecars: so is its peers tuple (one object)
    peers = memo(model, ("secure-peers", outbound), lambda: _upstream_peers(model, outbound))
    return SecureView(base, own, modes.mtls_for(node.namespace), access, peers, bundle_of(own))


__all__ = [
    "HTTP_RBAC_FILTER",
    "SecureView",
    "generate_secure",
    "secure_cluster",
    "secure_inbound_listener",
    "secure_view",
]
