"""LDS: a sidecar's listeners — the outbound HTTP proxy, TCP upstream ports and one inbound per Workload port.

- outbound HTTP (`127.0.0.1:<outbound_http_port>`): the workload's HTTP_PROXY; absolute-form and
  origin-form requests alike are routed by Host/authority through RDS (`routes.py`);
- TCP upstreams: one `tcp_proxy` listener per reachable non-HTTP service port, on the local port the
  runtime announced to the workload (weighted across backends when the port is split);
- inbound (`<sidecar_port>`): mesh traffic for one Workload port, forwarded to the app's port.

Seams for the access-control issue (not built here): `inbound_network_filters` is where the network
RBAC filter goes (first in the chain), `inbound_http_filters` where HTTP RBAC goes (before the
router), `inbound_transport_socket` where the mTLS server context goes.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from smimesh.mesh.split import PortSplits
from smimesh.mesh.view import InboundSpec, TcpUpstreamSpec
from smimesh.xds import names
from smimesh.xds.access_log import OUTBOUND, request_log
from smimesh.xds.protos import ads_source, packed, socket_address

Hcm = hcm.HttpConnectionManager


def _router() -> hcm.HttpFilter:
    return hcm.HttpFilter(name=names.ROUTER_FILTER, typed_config=packed(router_pb2.Router()))


def _filter(name: str, config: Message) -> lc.Filter:
    return lc.Filter(name=name, typed_config=packed(config))


def _listener(name: str, host: str, port: int, chain: lc.FilterChain) -> listener_pb2.Listener:
    return listener_pb2.Listener(name=name, address=socket_address(host, port), filter_chains=[chain])


@lru_cache(maxsize=1 << 14)
def outbound_http_listener(host: str, port: int) -> listener_pb2.Listener:
    manager = Hcm(
        stat_prefix=names.OUTBOUND_HTTP_STAT_PREFIX,
        codec_type=Hcm.AUTO,
        rds=hcm.Rds(config_source=ads_source(), route_config_name=names.OUTBOUND_HTTP_ROUTE),
        http_filters=[_router()],
        access_log=[request_log(OUTBOUND)],  # off unless tapped (runtime key): xds/access_log.py
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
    proxy = _tcp_proxy(stat_prefix, names.outbound_cluster(spec.service, spec.port), spec.splits)
    chain = lc.FilterChain(filters=[_filter(names.TCP_PROXY_FILTER, proxy)])
    return _listener(names.tcp_upstream_listener(spec.service, spec.port), spec.host, spec.local_port, chain)


def inbound_transport_socket(spec: InboundSpec) -> base_pb2.TransportSocket | None:
    """Seam for the mTLS server side (next issue): None means plaintext on loopback."""
    return None


def inbound_network_filters(spec: InboundSpec) -> list[lc.Filter]:
    """Seam for network RBAC (next issue): filters placed before the terminal filter."""
    return []


def inbound_http_filters(spec: InboundSpec) -> list[hcm.HttpFilter]:
    """Seam for HTTP RBAC (next issue): filters placed before the router."""
    return []


def _inbound_terminal(spec: InboundSpec) -> lc.Filter:
    cluster = names.inbound_cluster(spec.name)
    if not spec.protocol.is_http:
        return _filter(
            names.TCP_PROXY_FILTER,
            tcp_proxy_pb2.TcpProxy(stat_prefix=names.inbound_stat_prefix(spec.name), cluster=cluster),
        )
    route = rc.Route(name="app", match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster=cluster))
    vhost = rc.VirtualHost(name=names.inbound_route(spec.name), domains=["*"], routes=[route])
    manager = Hcm(
        stat_prefix=names.inbound_stat_prefix(spec.name),
        codec_type=Hcm.AUTO,
        route_config=route_pb2.RouteConfiguration(name=names.inbound_route(spec.name), virtual_hosts=[vhost]),
        http_filters=[*inbound_http_filters(spec), _router()],
    )
    return _filter(names.HCM_FILTER, manager)


@lru_cache(maxsize=1 << 14)
def inbound_listener(spec: InboundSpec) -> listener_pb2.Listener:
    chain = lc.FilterChain(filters=[*inbound_network_filters(spec), _inbound_terminal(spec)])
    socket = inbound_transport_socket(spec)
    if socket is not None:
        chain.transport_socket.CopyFrom(socket)
    return _listener(names.inbound_listener(spec.name), spec.host, spec.sidecar_port, chain)
