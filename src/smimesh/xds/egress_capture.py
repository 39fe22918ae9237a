"""Egress in a pod: what a transparent sidecar's `outbound_capture` listener does with a captured
connection whose original destination is no mesh service (a mesh ClusterIP:port is handed off to its
virtual listener before any chain here is chosen).

Owns `capture_listener(view, mesh_tcp_ports)`, used for a sidecar with an `EgressView` (without one,
`transparent.py` keeps its plain listener: everything passes through to the original destination).
Its filter chains enforce the view, matched on what the connection shows:
- TCP rule (`ipAddresses` and port): the destination address in a range and the port (`prefix_ranges`,
  IPv4 or IPv6 alike); no range: any address on that port;
- HTTPS rule: the TLS SNI in the rule's `hosts` on its port (`tls_inspector`, `server_names`, with
  `*.example.com` wildcards); an address in `hosts` is matched as the destination address;
- HTTP rule: the request's Host (`http_inspector`, then an HTTP connection manager whose virtual hosts
  are the allowed hosts, narrowed by the Egress's matches), any other Host 403 with a body naming the
  mesh; HTTP on a port no rule names gets the same 403;
- anything else is closed (the `blackhole` cluster: stat prefix `egress_refused`).
Egress `open`: everything passes, except that an http rule with `matches` still narrows its host.
Allowed connections go to the original destination: the policy trusts the Host/SNI the app sends for
the address it connects to (as other meshes' passthrough does); the address itself is checked only by
TCP rules. Inspectors run only on the ports that need them, so a server-first protocol allowed by a
TCP rule, or a mesh TCP service (its connection is handed off after these listener filters ran), is
not held waiting for the client's first bytes.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from envoy.config.core.v3 import address_pb2, base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.http_inspector.v3 import http_inspector_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.type.v3 import range_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from smimesh.mesh.egress import EgressRule, EgressView
from smimesh.xds import names
from smimesh.xds.egress import http_routes
from smimesh.xds.protos import packed, socket_address

OUTBOUND_CAPTURE = "outbound_capture"
OUTBOUND_CAPTURE_PORT = 15001  # where `smimesh capture` redirects a pod's outbound TCP
PASSTHROUGH = "passthrough"
BLACKHOLE = "blackhole"
REFUSED_STAT = "egress_refused"
HTTP_PROTOCOLS = ("http/1.0", "http/1.1", "h2c")
REFUSED_BODY = (
    "smimesh: no Egress lets this workload's ServiceAccount call this host on this port; "
    "the mesh's egress is by policy\n"
)


@dataclass
class _Port:
    """What the rules allow on one destination port."""

    http: dict[str, EgressRule] = field(default_factory=dict)  # host -> first rule naming it
    sni: set[str] = field(default_factory=set)
    ranges: set[str] = field(default_factory=set)
    any_address: bool = False


def _by_port(rules: Iterable[EgressRule]) -> dict[int, _Port]:
    ports: dict[int, _Port] = defaultdict(_Port)
    for rule in rules:
        port = ports[rule.port]
        if rule.protocol == "http":
            port.http.setdefault(rule.host, rule)
        elif rule.protocol == "https":
            (port.ranges if _is_address(rule.host) else port.sni).add(_range(rule.host))
        elif rule.network:
            port.ranges.add(rule.network)
        else:
            port.any_address = True
    return dict(sorted(ports.items()))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _range(host: str) -> str:
    return str(ipaddress.ip_network(host)) if _is_address(host) else host


def _cidr(network: str) -> address_pb2.CidrRange:
    net = ipaddress.ip_network(network)
    return address_pb2.CidrRange(address_prefix=str(net.network_address), prefix_len=_uint(net.prefixlen))


def _tcp(stat_prefix: str, cluster: str) -> lc.Filter:
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix, cluster=cluster)
    return lc.Filter(name=names.TCP_PROXY_FILTER, typed_config=packed(proxy))


def _other_hosts(open_: bool) -> rc.VirtualHost:
    if open_:
        route = rc.Route(match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster=PASSTHROUGH))
    else:
        refused = rc.DirectResponseAction(status=403, body=base_pb2.DataSource(inline_string=REFUSED_BODY))
        route = rc.Route(name=REFUSED_STAT, match=rc.RouteMatch(prefix="/"), direct_response=refused)
    return rc.VirtualHost(name="egress_other_hosts", domains=["*"], routes=[route])


def _http(port: int, rules: dict[str, EgressRule], open_: bool) -> lc.Filter:
    """By Host: the allowed hosts of this port (with or without `:port`), every other host refused."""
    vhosts = [
        rc.VirtualHost(
            name=f"egress|{host}|{port}",
            domains=[host, f"{host}:{port}"],
            routes=http_routes(rule, PASSTHROUGH),
        )
        for host, rule in sorted(rules.items())
    ]
    manager = hcm.HttpConnectionManager(
        stat_prefix=f"egress_http_{port or 'other'}",
        route_config=route_pb2.RouteConfiguration(
            name=f"egress_http|{port}", virtual_hosts=[*vhosts, _other_hosts(open_)]
        ),
        http_filters=[hcm.HttpFilter(name=names.ROUTER_FILTER, typed_config=packed(router_pb2.Router()))],
    )
    return lc.Filter(name=names.HCM_FILTER, typed_config=packed(manager))


def _uint(number: int) -> wrappers_pb2.UInt32Value:
    return wrappers_pb2.UInt32Value(value=number)


def _chain(name: str, match: lc.FilterChainMatch, terminal: lc.Filter) -> lc.FilterChain:
    return lc.FilterChain(name=name, filter_chain_match=match, filters=[terminal])


def _port_chains(number: int, port: _Port, open_: bool) -> list[lc.FilterChain]:
    allowed = _tcp("egress_allowed", PASSTHROUGH)
    if port.any_address:  # a tcp port without ranges: everything on it passes
        return [_chain(f"egress|tcp|{number}", lc.FilterChainMatch(destination_port=_uint(number)), allowed)]
    chains = [
        _chain(
            f"egress|http|{number}",
            lc.FilterChainMatch(destination_port=_uint(number), application_protocols=HTTP_PROTOCOLS),
            _http(number, port.http, open_),
        )
    ]
    if port.sni:
        match = lc.FilterChainMatch(
            destination_port=_uint(number), transport_protocol="tls", server_names=sorted(port.sni)
        )
        chains.append(_chain(f"egress|tls|{number}", match, allowed))
    if port.ranges:
        ranges = [_cidr(n) for n in sorted(port.ranges)]
        match = lc.FilterChainMatch(destination_port=_uint(number), prefix_ranges=ranges)
        chains.append(_chain(f"egress|address|{number}", match, allowed))
    return chains


def _listener_filter(name: str, config: Message, ports: set[int] | None = None) -> lc.ListenerFilter:
    """A listener filter, run only for connections to `ports` when given (never for an empty set)."""
    found = lc.ListenerFilter(name=name, typed_config=packed(config))
    if ports is not None:
        found.filter_disabled.CopyFrom(lc.ListenerFilterChainMatchPredicate(not_match=_any_port(ports)))
    return found


def _any_port(ports: set[int]) -> lc.ListenerFilterChainMatchPredicate:
    Predicate = lc.ListenerFilterChainMatchPredicate
    each = [Predicate(destination_port_range=range_pb2.Int32Range(start=p, end=p + 1)) for p in sorted(ports)]
    if len(each) == 1:
        return each[0]
    return Predicate(or_match=Predicate.MatchSet(rules=each))


TLS_INSPECTOR = ("envoy.filters.listener.tls_inspector", tls_inspector_pb2.TlsInspector())
HTTP_INSPECTOR = ("envoy.filters.listener.http_inspector", http_inspector_pb2.HttpInspector())


def _inspected(ports: dict[int, _Port], mesh_tcp_ports: set[int], open_: bool) -> list[lc.ListenerFilter]:
    """Which connections are peeked at: TLS on SNI ports; HTTP on the ports of http rules and, by
    policy, on every other port but the TCP rules' and the mesh's TCP services' (to answer a refused
    Host with 403; a server-first protocol there is never held waiting for the client's bytes)."""
    http_rules = {n for n, p in ports.items() if p.http}
    sni = {n for n, p in ports.items() if p.sni and not p.any_address}
    found = [_listener_filter(*TLS_INSPECTOR, sni)] if sni else []
    if open_:
        return [*found, _listener_filter(*HTTP_INSPECTOR, http_rules)] if http_rules else found
    tcp = {n for n, p in ports.items() if p.any_address or (p.ranges and not p.http)}
    http = _listener_filter(*HTTP_INSPECTOR)
    if skipped := (tcp | mesh_tcp_ports) - http_rules:
        http.filter_disabled.CopyFrom(_any_port(skipped))
    return [*found, http]


def _enforced(view: EgressView) -> list[EgressRule]:
    """The rules that shape the chains: all by policy; open, only http rules narrowed by matches."""
    return [r for r in view.rules if r.protocol == "http" and r.matches] if view.open else list(view.rules)


def _chains(view: EgressView) -> list[lc.FilterChain]:
    ports = _by_port(_enforced(view))
    chains = [c for number, port in ports.items() for c in _port_chains(number, port, view.open)]
    if not view.open:
        refusal = lc.FilterChainMatch(application_protocols=HTTP_PROTOCOLS)
        chains.append(_chain("egress|http|other-ports", refusal, _http(0, {}, False)))
    return chains


def capture_listener(view: EgressView, mesh_tcp_ports: Iterable[int] = ()) -> listener_pb2.Listener:
    """`outbound_capture` enforcing `view` (mesh_tcp_ports: where the mesh's own TCP services listen)."""
    original = _listener_filter("envoy.filters.listener.original_dst", original_dst_pb2.OriginalDst())
    inspected = _inspected(_by_port(_enforced(view)), set(mesh_tcp_ports), view.open)
    listener = listener_pb2.Listener(
        name=OUTBOUND_CAPTURE,
        address=socket_address("0.0.0.0", OUTBOUND_CAPTURE_PORT),
        listener_filters=[original, *inspected],
        filter_chains=_chains(view),
    )
    listener.use_original_dst.value = True
    default = _tcp(*(("egress_open", PASSTHROUGH) if view.open else (REFUSED_STAT, BLACKHOLE)))
    listener.default_filter_chain.CopyFrom(lc.FilterChain(name="egress|other", filters=[default]))
    listener.continue_on_listener_filters_timeout = True  # a silent client is then decided by address
    return listener
