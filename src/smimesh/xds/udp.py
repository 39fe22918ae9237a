"""UDP listeners and clusters: the `udp_proxy` data path of UDP service ports.

- a caller's UDP upstream (`mesh.udp.UdpUpstreamSpec`): a UDP listener on the local port announced to
  the app (`SMIMESH_UDP_<SERVICE>_<NAMESPACE>_<PORT>`), proxying each datagram session to a static
  cluster of the destination sidecars' inbound UDP listeners;
- a destination's inbound UDP port: a UDP listener on the sidecar port, proxying to the app's port
  (the plain `local_app|<port>` cluster).

Plaintext on loopback by necessity (Envoy has no TLS for UDP); access is enforced by which callers
get an upstream listener at all (`mesh/udp.py`). Messages are cached per frozen input and shared.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ec
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2, udp_listener_config_pb2
from envoy.extensions.filters.udp.udp_proxy.v3 import route_pb2, udp_proxy_pb2
from xds.core.v3 import extension_pb2
from xds.type.matcher.v3 import matcher_pb2

from smimesh.mesh.udp import UdpUpstreamSpec
from smimesh.mesh.view import InboundSpec
from smimesh.xds import names
from smimesh.xds.protos import packed, seconds

UDP_PROXY_FILTER = "envoy.filters.udp_listener.udp_proxy"
_ROUTE_ACTION = "route"
CONNECT_TIMEOUT_S = 1.0
# A datagram "session" (one caller address) is forgotten after this long without traffic; short, so a
# policy change that removes a listener leaves no long-lived upstream state behind.
IDLE_TIMEOUT_S = 30.0


def _udp_address(host: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(
            address=host, port_value=port, protocol=address_pb2.SocketAddress.UDP
        )
    )


def _udp_proxy(stat_prefix: str, cluster: str) -> udp_proxy_pb2.UdpProxyConfig:
    """Every datagram to `cluster` (the matcher with only `on_no_match` replaces the deprecated `cluster`)."""
    action = extension_pb2.TypedExtensionConfig(
        name=_ROUTE_ACTION, typed_config=packed(route_pb2.Route(cluster=cluster))
    )
    return udp_proxy_pb2.UdpProxyConfig(
        stat_prefix=stat_prefix,
        matcher=matcher_pb2.Matcher(on_no_match=matcher_pb2.Matcher.OnMatch(action=action)),
        idle_timeout=seconds(IDLE_TIMEOUT_S),
    )


def _udp_listener(
    name: str, host: str, port: int, proxy: udp_proxy_pb2.UdpProxyConfig
) -> listener_pb2.Listener:
    return listener_pb2.Listener(
        name=name,
        address=_udp_address(host, port),
        udp_listener_config=udp_listener_config_pb2.UdpListenerConfig(),
        listener_filters=[lc.ListenerFilter(name=UDP_PROXY_FILTER, typed_config=packed(proxy))],
    )


@lru_cache(maxsize=1 << 14)
def upstream_listener(spec: UdpUpstreamSpec) -> listener_pb2.Listener:
    proxy = _udp_proxy(
        names.udp_upstream_stat_prefix(spec.service, spec.port),
        names.udp_upstream_cluster(spec.service, spec.port),
    )
    return _udp_listener(
        names.udp_upstream_listener(spec.service, spec.port), spec.host, spec.local_port, proxy
    )


@lru_cache(maxsize=1 << 14)
def upstream_cluster(spec: UdpUpstreamSpec) -> cluster_pb2.Cluster:
    """Static: the endpoints are part of the caller's view, so a new destination replica updates it."""
    name = names.udp_upstream_cluster(spec.service, spec.port)
    endpoints = [ec.LbEndpoint(endpoint=ec.Endpoint(address=_udp_address(h, p))) for h, p in spec.endpoints]
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=seconds(CONNECT_TIMEOUT_S),
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name, endpoints=[ec.LocalityLbEndpoints(lb_endpoints=endpoints)]
        ),
    )


@lru_cache(maxsize=1 << 14)
def inbound_listener(spec: InboundSpec) -> listener_pb2.Listener:
    """The sidecar's inbound UDP port, forwarding to the app (same names as a TCP/HTTP inbound port)."""
    proxy = _udp_proxy(names.inbound_stat_prefix(spec.name), names.inbound_cluster(spec.name))
    return _udp_listener(names.inbound_listener(spec.name), spec.host, spec.sidecar_port, proxy)
