"""Follow a request through a generated snapshot the way Envoy would, without running Envoy.

listener (by port) → filter chain → HTTP connection manager → route configuration (RDS or inline)
→ virtual host (Envoy's domain order: exact, `*.suffix`, `prefix*`, `*`) → first matching route
(path prefix/exact/RE2 full-match on the path without query, header matchers) → direct response,
cluster or weighted clusters → endpoints (EDS assignment or the cluster's inline one). TCP
listeners go straight to their `tcp_proxy` cluster(s). Only the features smimesh generates are
modelled; anything else raises `NotImplementedError`, so a generator change cannot pass silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.message import Message

from smimesh.xds import type_urls


@dataclass(frozen=True)
class Outcome:
    """Where a request ended: a direct response (`status`, `body`) or clusters with weights and endpoints."""

    listener: str
    virtual_host: str = ""
    route: str = ""
    status: int | None = None
    body: str = ""
    clusters: tuple[tuple[str, int], ...] = ()
    endpoints: Mapping[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    @property
    def forwarded(self) -> bool:
        return self.status is None

    def share(self, cluster: str) -> float:
        total = sum(w for _, w in self.clusters)
        return sum(w for c, w in self.clusters if c == cluster) / total if total else 0.0


def _domain_rank(domain: str, host: str) -> tuple[int, int] | None:
    """Envoy's virtual host order: exact (0), longest `*suffix` (1), longest `prefix*` (2), `*` (3)."""
    host, domain = host.lower(), domain.lower()
    if domain == "*":
        return (3, 0)
    if domain.startswith("*") and host.endswith(domain[1:]):
        return (1, -len(domain))
    if domain.endswith("*") and host.startswith(domain[:-1]):
        return (2, -len(domain))
    return (0, 0) if domain == host else None


def _string_matches(matcher: Any, value: str) -> bool:
    kind = matcher.WhichOneof("match_pattern")
    if kind == "exact":
        return bool(value == matcher.exact)
    if kind == "prefix":
        return value.startswith(matcher.prefix)
    if kind == "safe_regex":
        return re2.fullmatch(matcher.safe_regex.regex, value) is not None
    raise NotImplementedError(f"string matcher {kind}")


def _header_matches(matcher: rc.HeaderMatcher, headers: Mapping[str, str]) -> bool:
    value = headers.get(matcher.name)
    kind = matcher.WhichOneof("header_match_specifier")
    if kind == "present_match":
        result = value is not None
    elif kind == "string_match":
        result = value is not None and _string_matches(matcher.string_match, value)
    else:
        raise NotImplementedError(f"header matcher {kind}")
    return bool(result != matcher.invert_match)


def route_matches(match: rc.RouteMatch, path: str, headers: Mapping[str, str]) -> bool:
    """Does an Envoy RouteMatch accept this path and these headers (`:method`, `:authority` included)?"""
    bare = path.split("?", 1)[0]
    kind = match.WhichOneof("path_specifier")
    if kind == "prefix":
        ok = bare.startswith(match.prefix)
    elif kind == "path":
        ok = bare == match.path
    elif kind == "safe_regex":
        ok = re2.fullmatch(match.safe_regex.regex, bare) is not None
    else:
        raise NotImplementedError(f"route path specifier {kind}")
    return ok and all(_header_matches(h, headers) for h in match.headers)


class Simulator:
    """A generated resource set (`{type_url: [message]}`, e.g. `xds.generate(view)`) as a request router."""

    def __init__(self, resources: Mapping[str, Sequence[Message]]) -> None:
        self.listeners: list[listener_pb2.Listener] = list(resources.get(type_urls.LISTENER, ()))
        self.routes = {r.name: r for r in resources.get(type_urls.ROUTE, ())}
        self.clusters = {c.name: c for c in resources.get(type_urls.CLUSTER, ())}
        self.assignments = {a.cluster_name: a for a in resources.get(type_urls.ENDPOINT, ())}

    def listener(self, port: int) -> listener_pb2.Listener:
        for listener in self.listeners:
            if listener.address.socket_address.port_value == port:
                return listener
        raise LookupError(f"no listener on port {port}")

    def _terminal(self, listener: listener_pb2.Listener) -> Message:
        config = listener.filter_chains[0].filters[-1].typed_config
        for cls in (hcm.HttpConnectionManager, tcp_proxy_pb2.TcpProxy):
            if config.Is(cls.DESCRIPTOR):
                message = cls()
                config.Unpack(message)
                return message
        raise NotImplementedError(f"terminal filter {config.type_url}")

    def http(
        self,
        port: int,
        host: str,
        path: str = "/",
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Send `method host path` to the HTTP listener on `port` (Host/authority as the client sent it)."""
        listener = self.listener(port)
        manager = self._terminal(listener)
        if not isinstance(manager, hcm.HttpConnectionManager):
            raise LookupError(f"listener {listener.name} is not an HTTP listener")
        table = (
            self.routes[manager.rds.route_config_name] if manager.HasField("rds") else manager.route_config
        )
        all_headers = {k.lower(): v for k, v in (headers or {}).items()} | {
            ":authority": host,
            ":method": method,
            ":path": path,
        }
        return self._route(listener.name, table, host, path, all_headers)

    def _route(
        self,
        listener: str,
        table: route_pb2.RouteConfiguration,
        host: str,
        path: str,
        headers: Mapping[str, str],
    ) -> Outcome:
        ranked = [
            (rank, vh) for vh in table.virtual_hosts for d in vh.domains if (rank := _domain_rank(d, host))
        ]
        if not ranked:
            return Outcome(listener, status=404, body="(no virtual host: Envoy answers 404)")
        vhost = min(ranked, key=lambda pair: pair[0])[1]
        for route in vhost.routes:
            if route_matches(route.match, path, headers):
                return self._action(listener, vhost.name, route)
        return Outcome(listener, vhost.name, status=404, body="(no route: Envoy answers 404)")

    def _action(self, listener: str, vhost: str, route: rc.Route) -> Outcome:
        if route.HasField("direct_response"):
            response = route.direct_response
            return Outcome(listener, vhost, route.name, response.status, response.body.inline_string)
        action = route.route
        if action.HasField("weighted_clusters"):
            weights = tuple((c.name, c.weight.value) for c in action.weighted_clusters.clusters)
        else:
            weights = ((action.cluster, 1),)
        return Outcome(listener, vhost, route.name, clusters=weights, endpoints=self._endpoints(weights))

    def tcp(self, port: int) -> Outcome:
        listener = self.listener(port)
        proxy = self._terminal(listener)
        if not isinstance(proxy, tcp_proxy_pb2.TcpProxy):
            raise LookupError(f"listener {listener.name} is not a TCP listener")
        if proxy.HasField("weighted_clusters"):
            weights = tuple((c.name, c.weight) for c in proxy.weighted_clusters.clusters)
        else:
            weights = ((proxy.cluster, 1),)
        return Outcome(listener.name, clusters=weights, endpoints=self._endpoints(weights))

    def _endpoints(self, weights: tuple[tuple[str, int], ...]) -> dict[str, tuple[tuple[str, int], ...]]:
        return {name: self.cluster_endpoints(name) for name, _ in weights}

    def cluster_endpoints(self, name: str) -> tuple[tuple[str, int], ...]:
        """Addresses of a cluster; raises LookupError for a cluster or EDS assignment the snapshot lacks."""
        cluster: cluster_pb2.Cluster = self.clusters[name]
        if cluster.type == cluster_pb2.Cluster.EDS:
            assignment: endpoint_pb2.ClusterLoadAssignment = self.assignments[
                cluster.eds_cluster_config.service_name or name
            ]
        else:
            assignment = cluster.load_assignment
        return tuple(
            (e.endpoint.address.socket_address.address, e.endpoint.address.socket_address.port_value)
            for locality in assignment.endpoints
            for e in locality.lb_endpoints
        )
