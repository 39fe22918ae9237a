"""Egress on a sidecar's config: the external hosts its workload may call through its HTTP proxy.

Owns `apply(resources, view)`: with an `EgressView`, the outbound route table gets one virtual host
per allowed `host:port` (also `host` alone for port 80) routed to a DNS cluster `egress|host|port`
(only the Egress's HTTPRouteGroup matches when it names some; other requests: 403 naming the
policy); with egress `open`, a host that is neither a mesh service nor named by an Egress goes
through Envoy's dynamic forward proxy instead of the mesh's 404. Without a view the resources pass
through unchanged. Messages shared between proxies are copied, never mutated.
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
from smimesh.xds import names, type_urls
from smimesh.xds.protos import packed, seconds, socket_address
from smimesh.xds.routes import route_match

OPEN_CLUSTER = "egress_open"
DFP_FILTER = "envoy.filters.http.dynamic_forward_proxy"
DENIED_BODY = "smimesh: {policy} does not allow this request to {host}:{port} (method or path)\n"


def cluster_name(rule: EgressRule) -> str:
    return f"egress|{rule.host}|{rule.port}"


def _copy(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def _dns_cache() -> dns_cache_pb2.DnsCacheConfig:
    return dns_cache_pb2.DnsCacheConfig(name="egress", dns_lookup_family=cluster_pb2.Cluster.V4_ONLY)


def _vhost(rule: EgressRule) -> rc.VirtualHost:
    action = rc.RouteAction(cluster=cluster_name(rule))
    routes = [
        rc.Route(name=f"{rule.policy}#{m.name}", match=route_match(m), route=action) for m in rule.matches
    ]
    if rule.matches:
        body = DENIED_BODY.format(policy=rule.policy, host=rule.host, port=rule.port)
        denied = rc.DirectResponseAction(status=403, body=base_pb2.DataSource(inline_string=body))
        routes.append(rc.Route(name="egress_denied", match=rc.RouteMatch(prefix="/"), direct_response=denied))
    else:
        routes.append(rc.Route(name=rule.policy, match=rc.RouteMatch(prefix="/"), route=action))
    domains = [f"{rule.host}:{rule.port}", *([rule.host] if rule.port == 80 else [])]
    return rc.VirtualHost(name=cluster_name(rule), domains=domains, routes=routes)


def _open_route() -> rc.Route:
    return rc.Route(
        name="egress_open", match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster=OPEN_CLUSTER)
    )


def _routes(config: Any, view: EgressView) -> Any:
    copy = _copy(config)
    vhosts = [v for v in copy.virtual_hosts if v.name != names.UNKNOWN_HOST_VHOST]
    unknown = [v for v in copy.virtual_hosts if v.name == names.UNKNOWN_HOST_VHOST]
    seen: set[str] = set()
    for rule in view.rules:
        if cluster_name(rule) not in seen:  # two Egresses for one host:port: the first one's matches
            seen.add(cluster_name(rule))
            vhosts.append(_vhost(rule))
    for vhost in unknown if view.open else ():
        del vhost.routes[:]
        vhost.routes.append(_open_route())
    del copy.virtual_hosts[:]
    copy.virtual_hosts.extend([*vhosts, *unknown])
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


@lru_cache(maxsize=1)
def open_cluster() -> cluster_pb2.Cluster:
    config = dfp_cluster.ClusterConfig(dns_cache_config=_dns_cache())
    return cluster_pb2.Cluster(
        name=OPEN_CLUSTER,
        connect_timeout=seconds(1.0),
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
        cluster_type=cluster_pb2.Cluster.CustomClusterType(
            name="envoy.clusters.dynamic_forward_proxy", typed_config=packed(config)
        ),
    )


def _with_forward_proxy(listener: Any) -> Any:
    """The outbound HTTP listener with the dynamic forward proxy filter before the router (open mode)."""
    copy = _copy(listener)
    for chain in copy.filter_chains:
        for item in chain.filters:
            if item.name == names.HCM_FILTER:
                manager = hcm.HttpConnectionManager()
                item.typed_config.Unpack(manager)
                proxy = hcm.HttpFilter(
                    name=DFP_FILTER, typed_config=packed(dfp.FilterConfig(dns_cache_config=_dns_cache()))
                )
                filters = list(manager.http_filters)
                del manager.http_filters[:]
                manager.http_filters.extend([*filters[:-1], proxy, filters[-1]])
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
    hosts = sorted({(r.host, r.port) for r in view.rules})
    extra: list[Message] = [egress_cluster(h, p) for h, p in hosts] + ([open_cluster()] if view.open else [])
    result[type_urls.CLUSTER] = [*resources[type_urls.CLUSTER], *extra]
    if view.open:
        result[type_urls.LISTENER] = [
            _with_forward_proxy(x) if getattr(x, "name", "") == names.OUTBOUND_HTTP_LISTENER else x
            for x in resources[type_urls.LISTENER]
        ]
    return result
