"""LDS: a sidecar's listeners — the outbound HTTP proxy, TCP upstream ports and one inbound per Workload port.

- outbound HTTP (`127.0.0.1:<outbound_http_port>`): the workload's HTTP_PROXY; absolute-form and
  origin-form requests alike are routed by Host/authority through RDS (`routes.py`);
- TCP upstreams: one `tcp_proxy` listener per reachable non-HTTP service port, on the local port the
  runtime announced to the workload (weighted across backends when the port is split);
- inbound (`<sidecar_port>`): mesh traffic for one Workload port, forwarded to the app's port.

Access control comes in through three seams, given the port's `InboundSecurity` (None: the plain
setting, no mTLS and no RBAC): `inbound_transport_socket` (the mTLS server context),
`inbound_network_filters` (network RBAC, first in a TCP chain), `inbound_http_filters` (HTTP RBAC,
before the router); the connection manager's other access-control fields come from
`xds.inbound_access.manager_overlay`.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from smimesh.mesh.modes import MtlsMode
from smimesh.mesh.split import PortSplits
from smimesh.mesh.view import InboundSpec, TcpUpstreamSpec
from smimesh.xds import inbound_access, names
from smimesh.xds.access_log import OUTBOUND, denied_connection_log, request_log
from smimesh.xds.inbound_access import InboundSecurity
from smimesh.xds.protos import ads_source, packed, socket_address

Hcm = hcm.HttpConnectionManager
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"


def _router() -> hcm.HttpFilter:
    return hcm.HttpFilter(name=names.ROUTER_FILTER, typed_config=packed(router_pb2.Router()))


def _filter(name: str, config: Message) -> lc.Filter:
    return lc.Filter(name=name, typed_config=packed(config))


def _listener(name: str, host: str, port: int, chain: lc.FilterChain) -> listener_pb2.Listener:
    return listener_pb2.Listener(name=name, address=socket_address(host, port), filter_chains=[chain])


@lru_cache(maxsize=1 << 14)
def outbound_http_listener(
    host: str, port: int, logs_to_control_plane: bool = False
) -> listener_pb2.Listener:
    manager = Hcm(
        stat_prefix=names.OUTBOUND_HTTP_STAT_PREFIX,
        codec_type=Hcm.AUTO,
        rds=hcm.Rds(config_source=ads_source(), route_config_name=names.OUTBOUND_HTTP_ROUTE),
        http_filters=[_router()],
        # off unless tapped (runtime key): xds/access_log.py
        access_log=[request_log(OUTBOUND, to_control_plane=logs_to_control_plane)],
        # The workload talks to us as to an HTTP proxy: absolute-form request lines are the norm.
        http_protocol_options=protocol_pb2.Http1ProtocolOptions(
            allow_absolute_url=wrappers_pb2.BoolValue(value=True)
        ),
    )
    chain = lc.FilterChain(filters=[_filter(names.HCM_FILTER, manager)])
    return _listener(names.OUTBOUND_HTTP_LISTENER, host, port, chain)


def _tcp_proxy(stat_prefix: str, cluster: str, splits: PortSplits | None) -> tcp_proxy_pb2.TcpProxy:
    split = splits.unconditional if splits else None
    if split is None or split.all_zero:
        return tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix, cluster=cluster)
    weights = [
        tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(
            name=names.outbound_cluster(b.service, b.port), weight=b.weight
        )
        for b in split.live_backends
    ]
    return tcp_proxy_pb2.TcpProxy(
        stat_prefix=stat_prefix, weighted_clusters=tcp_proxy_pb2.TcpProxy.WeightedCluster(clusters=weights)
    )


@lru_cache(maxsize=1 << 14)
def tcp_upstream_listener(spec: TcpUpstreamSpec) -> listener_pb2.Listener | None:
    """None when the port's only split sends no traffic (all weights 0): connections are refused."""
    split = spec.splits.unconditional if spec.splits else None
    if split is not None and split.all_zero:
        return None
    stat_prefix = names.tcp_upstream_stat_prefix(spec.service, spec.port)
    if spec.denied:  # no service it may call: a cluster that does not exist closes it at once, logged
        log = denied_connection_log(str(spec.service), spec.port)
        proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix, cluster=names.CALLER_DENIED, access_log=[log])
    else:
        proxy = _tcp_proxy(stat_prefix, names.outbound_cluster(spec.service, spec.port), spec.splits)
    chain = lc.FilterChain(filters=[_filter(names.TCP_PROXY_FILTER, proxy)])
    return _listener(names.tcp_upstream_listener(spec.service, spec.port), spec.host, spec.local_port, chain)


def inbound_transport_socket(
    spec: InboundSpec, security: InboundSecurity | None
) -> base_pb2.TransportSocket | None:
    """The mTLS server side (`xds.inbound_access`); None means plaintext on loopback."""
    return None if security is None else inbound_access.transport_socket(security)


def inbound_network_filters(spec: InboundSpec, security: InboundSecurity | None) -> list[lc.Filter]:
    """Filters placed before the terminal filter of a TCP port: network RBAC."""
    if security is None or spec.protocol.is_http:
        return []
    return inbound_access.network_filters(security)


def inbound_http_filters(spec: InboundSpec, security: InboundSecurity | None) -> list[hcm.HttpFilter]:
    """Filters placed before the router: HTTP RBAC."""
    return [] if security is None else inbound_access.http_filters(security)


def inbound_route_config(spec: InboundSpec) -> route_pb2.RouteConfiguration:
    """Everything on an inbound HTTP port goes to the app (RBAC, when on, rides on the virtual host)."""
    return port_route_config(spec.name)


def port_route_config(port_name: str) -> route_pb2.RouteConfiguration:
    """The inbound route configuration of the port named `port_name`: its name is all it is made from
    (`xds.generate` caches the secured one by that name)."""
    cluster = names.inbound_cluster(port_name)
    route = rc.Route(name="app", match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster=cluster))
    vhost = rc.VirtualHost(name=names.inbound_route(port_name), domains=["*"], routes=[route])
    return route_pb2.RouteConfiguration(name=names.inbound_route(port_name), virtual_hosts=[vhost])


def _inbound_manager(spec: InboundSpec, security: InboundSecurity | None) -> hcm.HttpConnectionManager:
    manager = Hcm(
        stat_prefix=names.inbound_stat_prefix(spec.name),
        codec_type=Hcm.AUTO,
        route_config=inbound_route_config(spec),
        http_filters=[*inbound_http_filters(spec, security), _router()],
    )
    if security is not None:
        manager.MergeFrom(inbound_access.manager_overlay(security, names.inbound_route(spec.name)))
    return manager


def _inbound_terminal(spec: InboundSpec, security: InboundSecurity | None, plaintext: bool) -> lc.Filter:
    if spec.protocol.is_http:
        return _filter(names.HCM_FILTER, _inbound_manager(spec, security))
    proxy = tcp_proxy_pb2.TcpProxy(
        stat_prefix=names.inbound_stat_prefix(spec.name),
        cluster=names.inbound_cluster(spec.name),
        access_log=[] if security is None else inbound_access.tcp_access_logs(security),
    )
    if security is not None:
        proxy.MergeFrom(inbound_access.tcp_proxy_overlay(security, plaintext))
    return _filter(names.TCP_PROXY_FILTER, proxy)


def _inbound_chain(spec: InboundSpec, security: InboundSecurity | None, protocol: str = "") -> lc.FilterChain:
    plaintext = protocol == "raw_buffer"
    filters = [*inbound_network_filters(spec, security), _inbound_terminal(spec, security, plaintext)]
    chain = lc.FilterChain(filters=filters)
    socket = None if plaintext else inbound_transport_socket(spec, security)
    if socket is not None:
        chain.transport_socket.CopyFrom(socket)
    if protocol:
        chain.filter_chain_match.transport_protocol = protocol
    return chain


@lru_cache(maxsize=1 << 14)
def inbound_listener(spec: InboundSpec, security: InboundSecurity | None = None) -> listener_pb2.Listener:
    """One Workload port's inbound listener; secured: TLS only (`strict`), or (`permissive`) a TLS chain
    and a plaintext chain chosen by the TLS inspector."""
    listener = _listener(
        names.inbound_listener(spec.name), spec.host, spec.sidecar_port, _inbound_chain(spec, security)
    )
    if security is not None and inbound_access.handshake_gated(security):
        # Its handshake refusals (`ssl.fail_verify_san`) are RBAC denials: stats named by port, not address.
        listener.stat_prefix = names.inbound_stat_prefix(spec.name)
    if security is None or security.mtls is MtlsMode.STRICT:
        return listener
    del listener.filter_chains[:]
    listener.filter_chains.extend(
        [_inbound_chain(spec, security, "tls"), _inbound_chain(spec, security, "raw_buffer")]
    )
    inspector = lc.ListenerFilter(name=TLS_INSPECTOR, typed_config=packed(tls_inspector_pb2.TlsInspector()))
    listener.listener_filters.append(inspector)
    return listener
