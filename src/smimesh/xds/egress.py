"""Egress on a sidecar's config: the external hosts its workload may call through its HTTP proxy.

Owns `apply(resources, view)`: with an `EgressView`, the outbound route table gets one virtual host
per allowed `host:port` (also `host` alone for port 80) routed to a DNS cluster `egress|host|port`
(a wildcard host `*.example.com`: the dynamic forward proxy `egress_forward`): for http, only the
Egress's HTTPRouteGroup matches when it names some (other requests: 403 naming the policy); for https,
a CONNECT tunnel (`egress_connect.py`, which also owns TCP by address and the 403 for any other
CONNECT). With egress `open`, a host that is neither a mesh service nor named by an Egress goes
through Envoy's dynamic forward proxy instead of the mesh's 404, CONNECT included. Without a view the
resources pass through unchanged. Messages shared between proxies are copied, never mutated.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.clusters.dynamic_forward_proxy.v3 import cluster_pb2 as dfp_cluster
from envoy.extensions.common.dynamic_forward_proxy.v3 import dns_cache_pb2
from envoy.extensions.filters.http.dynamic_forward_proxy.v3 import dynamic_forward_proxy_pb2 as dfp
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from google.protobuf.message import Message

from smimesh.mesh.egress import EgressRule, EgressView
from smimesh.xds import egress_connect as connect
from smimesh.xds import names, type_urls
from smimesh.xds.protos import packed, seconds, socket_address
from smimesh.xds.routes import route_match

OPEN_CLUSTER = "egress_open"
FORWARD_CLUSTER = "egress_forward"  # the dynamic forward proxy for what policy allows: wildcard hosts, TCP
DFP_FILTER = "envoy.filters.http.dynamic_forward_proxy"
DENIED_BODY = "smimesh: {policy} does not allow this request to {host}:{port} (method or path)\n"


def cluster_name(rule: EgressRule) -> str:
    return f"egress|{rule.host}|{rule.port}"


def _copy(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def _dns_cache() -> dns_cache_pb2.DnsCacheConfig:
    """Names resolve to IPv4 first; an IPv6 literal (a TCP rule's IPv6 range) is used as it is."""
    return dns_cache_pb2.DnsCacheConfig(name="egress", dns_lookup_family=cluster_pb2.Cluster.V4_PREFERRED)


def _target(rule: EgressRule) -> str:
    return FORWARD_CLUSTER if connect.is_wildcard(rule.host) else cluster_name(rule)


def http_routes(rule: EgressRule, cluster: str) -> list[rc.Route]:
    """A host's routes: to `cluster`, narrowed to the Egress's matches when it names some (else 403)."""
    action = rc.RouteAction(cluster=cluster)
    routes = [
        rc.Route(name=f"{rule.policy}#{m.name}", match=route_match(m), route=action) for m in rule.matches
    ]
    if rule.matches:
        body = DENIED_BODY.format(policy=rule.policy, host=rule.host, port=rule.port)
        denied = rc.DirectResponseAction(status=403, body=base_pb2.DataSource(inline_string=body))
        routes.append(rc.Route(name="egress_denied", match=rc.RouteMatch(prefix="/"), direct_response=denied))
    else:
        routes.append(rc.Route(name=rule.policy, match=rc.RouteMatch(prefix="/"), route=action))
    return routes


def _vhost(rules: list[EgressRule]) -> rc.VirtualHost:
    """One host:port: a CONNECT tunnel if an https rule names it, HTTP routes if an http rule does."""
    first = rules[0]
    https = [r for r in rules if r.protocol == "https"][:1]
    http = [r for r in rules if r.protocol == "http"][:1]  # two Egresses for one host:port: the first one's
    routes = [connect.tunnel_route(r.policy, _target(r)) for r in https]
    routes.extend(route for r in http for route in http_routes(r, _target(r)))
    plain = [first.host] if http and first.port == 80 else []
    return rc.VirtualHost(
        name=cluster_name(first), domains=[f"{first.host}:{first.port}", *plain], routes=routes
    )


def _host_vhosts(view: EgressView) -> list[rc.VirtualHost]:
    by_destination: dict[str, list[EgressRule]] = {}
    for rule in view.rules:
        if rule.protocol != "tcp":
            by_destination.setdefault(cluster_name(rule), []).append(rule)
    return [_vhost(rules) for rules in by_destination.values()]


def _catch_all(vhost: rc.VirtualHost, view: EgressView) -> None:
    """The unknown-host vhost: TCP tunnels by address, then open egress or the mesh's refusal."""
    plain = [_copy(r) for r in vhost.routes] if not view.open else [_open_route()]
    tcp = [r for r in view.rules if r.protocol == "tcp"]
    tunnels = [route for r in tcp for route in connect.address_routes(r, FORWARD_CLUSTER)]
    last = connect.tunnel_route("egress_open", OPEN_CLUSTER) if view.open else connect.refusal_route()
    del vhost.routes[:]
    vhost.routes.extend([*tunnels, last, *plain])


def _open_route() -> rc.Route:
    return rc.Route(
        name="egress_open", match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster=OPEN_CLUSTER)
    )


def _routes(config: Any, view: EgressView) -> Any:
    copy = _copy(config)
    vhosts = [v for v in copy.virtual_hosts if v.name != names.UNKNOWN_HOST_VHOST]
    unknown = [v for v in copy.virtual_hosts if v.name == names.UNKNOWN_HOST_VHOST]
    for vhost in unknown:
        _catch_all(vhost, view)
    del copy.virtual_hosts[:]
    copy.virtual_hosts.extend([*vhosts, *_host_vhosts(view), *unknown])
    return copy


@lru_cache(maxsize=1 << 10)
def egress_cluster(host: str, port: int) -> cluster_pb2.Cluster:
    name = cluster_name(EgressRule(host, port, ""))
    endpoint = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(address=socket_address(host, port))
    )
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STRICT_DNS,
        dns_lookup_family=cluster_pb2.Cluster.V4_ONLY,
        connect_timeout=seconds(1.0),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])],
        ),
    )


@lru_cache(maxsize=2)
def open_cluster(name: str = OPEN_CLUSTER) -> cluster_pb2.Cluster:
    """A dynamic forward proxy cluster (the host comes from each request; an IP literal is not looked up)."""
    config = dfp_cluster.ClusterConfig(dns_cache_config=_dns_cache())
    return cluster_pb2.Cluster(
        name=name,
        connect_timeout=seconds(1.0),
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        cluster_type=cluster_pb2.Cluster.CustomClusterType(
            name="envoy.clusters.dynamic_forward_proxy", typed_config=packed(config)
        ),
    )


def _with_forward_proxy(manager: hcm.HttpConnectionManager) -> None:
    """The dynamic forward proxy filter before the router."""
    proxy = hcm.HttpFilter(
        name=DFP_FILTER, typed_config=packed(dfp.FilterConfig(dns_cache_config=_dns_cache()))
    )
    filters = list(manager.http_filters)
    del manager.http_filters[:]
    manager.http_filters.extend([*filters[:-1], proxy, filters[-1]])


def _listener(listener: Any, view: EgressView) -> Any:
    """The outbound HTTP listener accepting CONNECT, with the forward proxy filter where needed."""
    copy = _copy(listener)
    for chain in copy.filter_chains:
        for item in chain.filters:
            if item.name == names.HCM_FILTER:
                manager = hcm.HttpConnectionManager()
                item.typed_config.Unpack(manager)
                connect.with_connect(manager)
                if connect.needs_forward_proxy(view.rules, view.open):
                    _with_forward_proxy(manager)
                item.typed_config.CopyFrom(packed(manager))
    return copy


def apply(resources: dict[str, list[Any]], view: EgressView | None) -> dict[str, list[Any]]:
    if view is None:
        return resources
    result = dict(resources)
    result[type_urls.ROUTE] = [
        _routes(c, view) if getattr(c, "name", "") == names.OUTBOUND_HTTP_ROUTE else c
        for c in resources[type_urls.ROUTE]
    ]
    result[type_urls.CLUSTER] = [*resources[type_urls.CLUSTER], *_clusters(view)]
    result[type_urls.LISTENER] = [
        _listener(x, view) if getattr(x, "name", "") == names.OUTBOUND_HTTP_LISTENER else x
        for x in resources[type_urls.LISTENER]
    ]
    return result


def _clusters(view: EgressView) -> list[Message]:
    named = [r for r in view.rules if r.protocol != "tcp" and not connect.is_wildcard(r.host)]
    found: list[Message] = [egress_cluster(h, p) for h, p in sorted({(r.host, r.port) for r in named})]
    if connect.needs_forward_proxy(view.rules, False):
        found.append(open_cluster(FORWARD_CLUSTER))
    return found + ([open_cluster()] if view.open else [])
