"""Transparent mode: the config of a sidecar in a pod whose TCP is captured (issue 13).

`apply(resources, view)` reshapes what `generate` (plain or secured) produced for a node whose
`view.node.transparent` is set (anything else passes through untouched), so the same SMI semantics —
routes, splits, mTLS to the endpoints' pod IPs, RBAC, metrics — serve pods:
- `outbound_capture` on 0.0.0.0:15001 and `inbound_capture` on 0.0.0.0:15006 receive what the nat rules
  redirect; with `use_original_dst` Envoy hands each connection to the listener bound (virtually) to its
  original destination, else keeps it: outbound → `passthrough` (an ORIGINAL_DST cluster: destinations
  outside the mesh pass through as they are) unless the sidecar has an egress view, which
  `egress_capture.py` enforces there; inbound → `blackhole` (a port the pod does not declare is
  closed: fail closed).
- one virtual listener (`bind_to_port: false`) per mesh Service port at `ClusterIP:port` (at each
  endpoint's `podIP:port` for a headless Service): HTTP ports are copies of the `outbound_http` listener
  (same RDS route table, so the Host header picks the service's routes and splits exactly as in local
  mode), TCP ports `tcp_proxy` to the service's cluster (weighted when split). A Service port the
  pod may not call (`view.closed`) gets a virtual listener at its ClusterIP too: HTTP the outbound
  listener (whose routes answer 403 naming the mesh), TCP closed at once. The `outbound_http`
  listener itself goes: the app has no HTTP_PROXY in a pod.
- the inbound listeners (`inbound|<port>` on `podIP:containerPort`, with their TLS and RBAC) become
  virtual: the app binds that port itself, and captured connections reach them through the handoff.
Messages from the generators are shared between proxies: every change is made on a copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.message import Message

from smimesh.mesh.model import Protocol
from smimesh.mesh.view import ClosedAddress, OutboundService, OutboundSpec, ProxyView, TcpUpstreamSpec
from smimesh.xds import egress_capture, names, type_urls
from smimesh.xds import listeners as plain_listeners
from smimesh.xds.egress_capture import BLACKHOLE, OUTBOUND_CAPTURE, OUTBOUND_CAPTURE_PORT, PASSTHROUGH
from smimesh.xds.protos import packed, seconds, socket_address

INBOUND_CAPTURE_PORT = 15006  # where `smimesh capture` redirects a pod's inbound TCP
INBOUND_CAPTURE = "inbound_capture"


def apply(resources: dict[str, list[Any]], view: ProxyView) -> dict[str, list[Any]]:
    if not view.node.transparent:
        return resources
    out = dict(resources)
    kept = [m for m in resources[type_urls.LISTENER] if m.name != names.OUTBOUND_HTTP_LISTENER]
    http = next((m for m in resources[type_urls.LISTENER] if m.name == names.OUTBOUND_HTTP_LISTENER), None)
    out[type_urls.LISTENER] = [
        *(_virtual(m) if m.name.startswith("inbound|") else m for m in kept),
        *service_listeners(view.outbound, http),
        *closed_listeners(view.closed or (), http),
        _outbound_capture(view),
        capture_listener(INBOUND_CAPTURE, INBOUND_CAPTURE_PORT, BLACKHOLE),
    ]
    out[type_urls.CLUSTER] = [*resources[type_urls.CLUSTER], passthrough_cluster(), blackhole_cluster()]
    return out


def _outbound_capture(view: ProxyView) -> Message:
    if view.egress is None:
        return capture_listener(OUTBOUND_CAPTURE, OUTBOUND_CAPTURE_PORT, PASSTHROUGH)
    mesh_tcp_ports = {
        target
        for service in view.outbound.services
        for port in service.ports
        if not port.protocol.is_http
        for _, target in _addresses(service, port.port, view.outbound)
    }
    return egress_capture.capture_listener(view.egress, mesh_tcp_ports)


def _virtual(listener: Message, name: str | None = None, host: str = "", port: int = 0) -> Message:
    copy = listener_pb2.Listener()
    copy.CopyFrom(listener)
    if name:
        copy.name = name
        copy.address.CopyFrom(socket_address(host, port))
    copy.bind_to_port.value = False
    return copy


def _addresses(service: OutboundService, port: int, spec: OutboundSpec) -> list[tuple[str, int]]:
    """Where an app's connection to this service port is headed: its ClusterIP, or (headless) its pods."""
    if service.cluster_ip:
        return [(service.cluster_ip, port)]
    found = next((c for c in spec.clusters if c.service == service.key and c.port == port), None)
    return list(found.endpoints) if found else []


def service_listeners(spec: OutboundSpec, http: Message | None) -> Iterable[Message]:
    for service in spec.services:
        for port in service.ports:
            for host, target in _addresses(service, port.port, spec):
                name = f"vip|{service.key.namespace}|{service.key.name}|{host}:{target}"
                if port.protocol.is_http and http is not None:
                    yield _virtual(http, name, host, target)
                elif port.protocol is not Protocol.UDP and not port.protocol.is_http:
                    tcp = TcpUpstreamSpec(target, host, service.key, port.port, port.splits)
                    listener = plain_listeners.tcp_upstream_listener(tcp)
                    if listener is not None:
                        yield _virtual(listener, name, host, target)


def closed_listeners(closed: Iterable[ClosedAddress], http: Message | None) -> Iterable[Message]:
    """A mesh service this pod may not call, at its ClusterIP: HTTP gets the outbound listener (its
    route table has no host for the service: the 403 naming the mesh), TCP a connection closed at
    once (`blackhole`), instead of a pass-through to an address nothing serves."""
    for address in closed:
        name = f"vip_closed|{address.host}:{address.port}"
        if address.http and http is not None:
            yield _virtual(http, name, address.host, address.port)
        elif not address.http:
            yield _closed_tcp(name, address.host, address.port)


@lru_cache(maxsize=1 << 14)
def _closed_tcp(name: str, host: str, port: int) -> listener_pb2.Listener:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix="outbound_closed", cluster=BLACKHOLE)
    chain = lc.FilterChain(filters=[lc.Filter(name=names.TCP_PROXY_FILTER, typed_config=packed(proxy))])
    listener = listener_pb2.Listener(name=name, address=socket_address(host, port), filter_chains=[chain])
    listener.bind_to_port.value = False
    return listener


@lru_cache(maxsize=4)
def capture_listener(name: str, port: int, cluster: str) -> listener_pb2.Listener:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=name, cluster=cluster)
    chain = lc.FilterChain(filters=[lc.Filter(name=names.TCP_PROXY_FILTER, typed_config=packed(proxy))])
    original = lc.ListenerFilter(
        name="envoy.filters.listener.original_dst", typed_config=packed(original_dst_pb2.OriginalDst())
    )
    listener = listener_pb2.Listener(
        name=name, address=socket_address("0.0.0.0", port), filter_chains=[chain], listener_filters=[original]
    )
    listener.use_original_dst.value = True
    return listener


@lru_cache(maxsize=1)
def passthrough_cluster() -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=PASSTHROUGH,
        type=cluster_pb2.Cluster.ORIGINAL_DST,
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        connect_timeout=seconds(5),
    )


@lru_cache(maxsize=1)
def blackhole_cluster() -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(name=BLACKHOLE, type=cluster_pb2.Cluster.STATIC, connect_timeout=seconds(1))
