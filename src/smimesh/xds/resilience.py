"""Resilience on a sidecar's generated config: retries and timeouts on the caller's routes, connection
limits and outlier detection on its clusters, local rate limits on the destination's inbound side.

Owns `apply(resources, policy)`: the final resources of a sidecar (plain or secured) with its
`ProxyResilience` applied. Only the messages a policy touches are copied (they are shared between
proxies and must never be mutated); a view without policy never comes here, so the config of a mesh
without policy is exactly what it was before this module existed.

Idempotency (README "Resilience"): under a Retry, requests are retried only for the idempotent
methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) unless the Service's ResiliencePolicy sets
`retryNonIdempotent: true`: the retrying route is a copy of each route restricted to those methods,
placed before the original, which keeps no retry policy.
"""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.local_ratelimit.v3 import local_rate_limit_pb2 as http_limit
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.local_ratelimit.v3 import local_rate_limit_pb2 as tcp_limit
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as http_options
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2, token_bucket_pb2
from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from smimesh.mesh.model import ServiceKey
from smimesh.mesh.resilience import (
    IDEMPOTENT_METHODS,
    Connections,
    LocalLimit,
    OutboundPolicy,
    Outlier,
    ProxyResilience,
    RetrySpec,
    ServicePolicy,
)
from smimesh.xds import names, type_urls
from smimesh.xds.protos import packed, seconds

HTTP_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"
TCP_LIMIT_FILTER = "envoy.filters.network.local_ratelimit"
LIMIT_ROUTE_PREFIX = "ratelimit|"
_BACKOFF_CAP = 10  # Envoy's default max_interval is 10 x the base interval; say so explicitly


def _copy(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


# --- caller side: routes ---------------------------------------------------------------------------
def _vhost_service(name: str) -> ServiceKey | None:
    parts = name.split("|")
    return ServiceKey(parts[0], parts[1]) if len(parts) == 3 else None


def _retry_policy(retry: RetrySpec) -> rc.RetryPolicy:
    return rc.RetryPolicy(
        retry_on=retry.retry_on,
        num_retries=wrappers_pb2.UInt32Value(value=retry.num_retries),
        per_try_timeout=seconds(retry.per_try_timeout_s),
        retry_back_off=rc.RetryPolicy.RetryBackOff(
            base_interval=seconds(max(retry.backoff_base_s, 0.001)),
            max_interval=seconds(max(retry.backoff_base_s, 0.001) * _BACKOFF_CAP),
        ),
    )


def _regex_header(name: str, pattern: str) -> rc.HeaderMatcher:
    regex = string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))
    return rc.HeaderMatcher(name=name, string_match=regex)


def _timed(route: rc.Route, timeout_s: float | None) -> rc.Route:
    if timeout_s is not None and route.HasField("route"):
        route.route.timeout.CopyFrom(seconds(timeout_s))
    return route


def _with_retries(route: rc.Route, outbound: OutboundPolicy) -> list[rc.Route]:
    """The route with the caller's retry policy: all methods, or an idempotent-only copy first."""
    retry = outbound.retry
    if retry is None or not route.HasField("route"):
        return [route]
    retrying = _copy(route)
    retrying.route.retry_policy.CopyFrom(_retry_policy(retry))
    if outbound.policy.retry_non_idempotent:
        return [retrying]
    retrying.name = f"{route.name}|retry"
    retrying.match.headers.append(_regex_header(":method", "|".join(IDEMPOTENT_METHODS)))
    return [retrying, route]


def _path_variants(route: rc.Route, policy: ServicePolicy) -> list[rc.Route]:
    """Per-path request timeouts: copies of a catch-all route (`prefix: /`) matching each path first."""
    if route.match.prefix != "/" or not route.HasField("route"):
        return []
    found = []
    for index, (path, timeout_s) in enumerate(policy.route_timeouts):
        variant = _timed(_copy(route), timeout_s)
        variant.name = f"{route.name}|timeout{index}"
        variant.match.ClearField("prefix")
        variant.match.safe_regex.CopyFrom(regex_pb2.RegexMatcher(regex=f"(?:{path}).*"))
        found.append(variant)
    return found


def _vhost_routes(vhost: rc.VirtualHost, outbound: OutboundPolicy) -> list[rc.Route]:
    found: list[rc.Route] = []
    for plain in vhost.routes:
        for route in [
            *_path_variants(plain, outbound.policy),
            _timed(_copy(plain), outbound.policy.request_timeout_s),
        ]:
            found.extend(_with_retries(route, outbound))
    return found


def _outbound_routes(config: route_pb2.RouteConfiguration, policy: ProxyResilience) -> Message:
    touched = {
        vhost.name: outbound
        for vhost in config.virtual_hosts
        if (key := _vhost_service(vhost.name)) and (outbound := policy.for_service(key))
    }
    if not touched:
        return config
    copy = _copy(config)
    for vhost in copy.virtual_hosts:
        if vhost.name in touched:
            routes = _vhost_routes(vhost, touched[vhost.name])
            del vhost.routes[:]
            vhost.routes.extend(routes)
    return copy


# --- caller side: clusters -------------------------------------------------------------------------
def _thresholds(connections: Connections) -> circuit_breaker_pb2.CircuitBreakers:
    threshold = circuit_breaker_pb2.CircuitBreakers.Thresholds()
    for field in ("max_connections", "max_pending_requests", "max_requests", "max_retries"):
        value = getattr(connections, field)
        if value is not None:
            getattr(threshold, field).value = value
    return circuit_breaker_pb2.CircuitBreakers(thresholds=[threshold])


def _max_requests_per_connection(cluster: cluster_pb2.Cluster, limit: int) -> None:
    """Set on the cluster's HttpProtocolOptions, keeping an HTTP/2 choice (gRPC) if there is one."""
    options = http_options.HttpProtocolOptions()
    if names.HTTP_PROTOCOL_OPTIONS in cluster.typed_extension_protocol_options:
        cluster.typed_extension_protocol_options[names.HTTP_PROTOCOL_OPTIONS].Unpack(options)
    else:
        options.explicit_http_config.http_protocol_options.CopyFrom(protocol_pb2.Http1ProtocolOptions())
    options.common_http_protocol_options.max_requests_per_connection.value = limit
    cluster.typed_extension_protocol_options[names.HTTP_PROTOCOL_OPTIONS].CopyFrom(packed(options))


def _outlier(outlier: Outlier) -> outlier_detection_pb2.OutlierDetection:
    return outlier_detection_pb2.OutlierDetection(
        consecutive_5xx=wrappers_pb2.UInt32Value(value=outlier.consecutive_5xx),
        interval=seconds(outlier.interval_s),
        base_ejection_time=seconds(outlier.base_ejection_s),
        max_ejection_percent=wrappers_pb2.UInt32Value(value=outlier.max_ejection_percent),
    )


def _cluster(cluster: cluster_pb2.Cluster, policy: ServicePolicy, http: bool) -> Message:
    copy = _copy(cluster)
    connections = policy.connections
    if connections is not None:
        copy.circuit_breakers.CopyFrom(_thresholds(connections))
        if connections.connect_timeout_s is not None:
            copy.connect_timeout.CopyFrom(seconds(connections.connect_timeout_s))
        if connections.max_requests_per_connection is not None and http:
            _max_requests_per_connection(copy, connections.max_requests_per_connection)
    if policy.outlier is not None:
        copy.outlier_detection.CopyFrom(_outlier(policy.outlier))
    return copy


def _clusters(found: list[Any], policy: ProxyResilience, http_clusters: set[str]) -> list[Any]:
    result = []
    for cluster in found:
        parsed = names.parse_outbound_cluster(getattr(cluster, "name", ""))
        outbound = policy.for_service(parsed[0]) if parsed else None
        if outbound is None or not (outbound.policy.connections or outbound.policy.outlier):
            result.append(cluster)
        else:
            result.append(_cluster(cluster, outbound.policy, cluster.name in http_clusters))
    return result


# --- destination side: local rate limits -----------------------------------------------------------
def _bucket(limit: LocalLimit) -> token_bucket_pb2.TokenBucket:
    return token_bucket_pb2.TokenBucket(
        max_tokens=limit.tokens + limit.burst,
        tokens_per_fill=wrappers_pb2.UInt32Value(value=limit.tokens),
        fill_interval=seconds(limit.unit_s),
    )


def _all_requests(key: str) -> base_pb2.RuntimeFractionalPercent:
    hundred = percent_pb2.FractionalPercent(numerator=100, denominator=percent_pb2.FractionalPercent.HUNDRED)
    return base_pb2.RuntimeFractionalPercent(default_value=hundred, runtime_key=key)


def http_limit_config(stat_prefix: str, limit: LocalLimit | None) -> http_limit.LocalRateLimit:
    """The filter's config; without a limit it only names the stats (routes bring their own buckets)."""
    config = http_limit.LocalRateLimit(stat_prefix=stat_prefix)
    if limit is None:
        return config
    config.token_bucket.CopyFrom(_bucket(limit))
    config.filter_enabled.CopyFrom(_all_requests("smimesh.local_rate_limit.enabled"))
    config.filter_enforced.CopyFrom(_all_requests("smimesh.local_rate_limit.enforced"))
    config.status.code = limit.status  # validate_policy admits only Envoy's StatusCode values
    for name, value in limit.headers:
        header = config.response_headers_to_add.add()
        header.header.key, header.header.value = name, value
    return config


def _limited_manager(manager: hcm.HttpConnectionManager, port: str, policy: ServicePolicy) -> Any:
    copy = _copy(manager)
    limiter = hcm.HttpFilter(
        name=HTTP_LIMIT_FILTER, typed_config=packed(http_limit_config(f"inbound_{port}", policy.http_limit))
    )
    routers = [f for f in copy.http_filters if f.name == names.ROUTER_FILTER]
    others = [f for f in copy.http_filters if f.name != names.ROUTER_FILTER]
    del copy.http_filters[:]
    copy.http_filters.extend([*others, limiter, *routers])
    if copy.HasField("route_config"):
        copy.route_config.CopyFrom(limited_routes(copy.route_config, port, policy))
    return copy


def limited_routes(config: route_pb2.RouteConfiguration, port: str, policy: ServicePolicy) -> Any:
    """An inbound route configuration with one route per `httpRoutes[]` path carrying its own bucket."""
    if not policy.route_limits:
        return config
    copy = _copy(config)
    for vhost in copy.virtual_hosts:
        base = [r for r in vhost.routes if r.HasField("route")]
        if not base:
            continue
        extra = []
        for index, (path, limit) in enumerate(policy.route_limits):
            route = _copy(base[-1])
            route.name = f"{LIMIT_ROUTE_PREFIX}{index}"
            route.match.CopyFrom(rc.RouteMatch(safe_regex=regex_pb2.RegexMatcher(regex=f"(?:{path}).*")))
            route.typed_per_filter_config[HTTP_LIMIT_FILTER].CopyFrom(
                packed(http_limit_config(f"inbound_{port}_route{index}", limit))
            )
            extra.append(route)
        routes = [*extra, *vhost.routes]
        del vhost.routes[:]
        vhost.routes.extend(routes)
    return copy


def _limited_chain(chain: lc.FilterChain, port: str, policy: ServicePolicy) -> None:
    filters = []
    for item in chain.filters:
        if item.name == names.HCM_FILTER and (policy.http_limit or policy.route_limits):
            manager = hcm.HttpConnectionManager()
            item.typed_config.Unpack(manager)
            item = lc.Filter(name=item.name, typed_config=packed(_limited_manager(manager, port, policy)))
        elif item.name == names.TCP_PROXY_FILTER and policy.tcp_limit is not None:
            config = tcp_limit.LocalRateLimit(
                stat_prefix=f"inbound_{port}", token_bucket=_bucket(policy.tcp_limit)
            )
            filters.append(lc.Filter(name=TCP_LIMIT_FILTER, typed_config=packed(config)))
        filters.append(item)
    del chain.filters[:]
    chain.filters.extend(filters)


def _listeners(found: list[Any], policy: ProxyResilience) -> list[Any]:
    by_name = {names.inbound_listener(i.port_name): i for i in policy.inbound}
    result = []
    for listener in found:
        limits = by_name.get(getattr(listener, "name", ""))
        if limits is None or not isinstance(listener, listener_pb2.Listener):
            result.append(listener)
            continue
        copy = _copy(listener)
        for chain in copy.filter_chains:
            _limited_chain(chain, limits.port_name, limits.policy)
        result.append(copy)
    return result


def _routes(found: list[Any], policy: ProxyResilience) -> list[Any]:
    inbound = {names.inbound_route(i.port_name): i for i in policy.inbound}
    result = []
    for config in found:
        name = getattr(config, "name", "")
        if name == names.OUTBOUND_HTTP_ROUTE:
            result.append(_outbound_routes(config, policy))
        elif name in inbound:
            result.append(limited_routes(config, inbound[name].port_name, inbound[name].policy))
        else:
            result.append(config)
    return result


def _http_clusters(routes: list[Any]) -> set[str]:
    """Clusters routed to by HTTP (they take HTTP protocol options; TCP clusters must not)."""
    found: set[str] = set()
    for config in routes:
        for vhost in getattr(config, "virtual_hosts", ()):
            for route in vhost.routes:
                found.add(route.route.cluster)
                found.update(w.name for w in route.route.weighted_clusters.clusters)
    return found


def apply(resources: dict[str, list[Any]], policy: ProxyResilience | None) -> dict[str, list[Any]]:
    """`resources` with `policy` applied (the same dict back when there is none)."""
    if policy is None:
        return resources
    result = dict(resources)
    result[type_urls.ROUTE] = _routes(resources[type_urls.ROUTE], policy)
    result[type_urls.CLUSTER] = _clusters(
        resources[type_urls.CLUSTER], policy, _http_clusters(resources[type_urls.ROUTE])
    )
    result[type_urls.LISTENER] = _listeners(resources[type_urls.LISTENER], policy)
    return result
