"""Follow a request through a generated snapshot the way Envoy would, without running Envoy.

listener (by port) → filter chain → HTTP connection manager → route configuration (RDS or inline)
→ virtual host (Envoy's domain order: exact, `*.suffix`, `prefix*`, `*`) → first matching route
(path prefix/exact/RE2 full-match on the path without query, header matchers) → direct response,
cluster or weighted clusters → endpoints (EDS assignment or the cluster's inline one). TCP
listeners go straight to their `tcp_proxy` cluster(s). The secured config is followed too
(`testing.connection`): filter chain by transport protocol, the client certificate check, network
and HTTP RBAC (per-route config over the filter's), the mesh's 403 body from the local reply mapper.
Only the features smimesh generates are modelled; anything else raises `NotImplementedError`, so a
generator change cannot pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.message import Message

from smimesh.testing import connection
from smimesh.testing.matchers import route_matches
from smimesh.testing.rbac_sim import unpacked
from smimesh.xds import type_urls

__all__ = ["Outcome", "Simulator", "route_matches"]


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
    closed: str = ""  # why the connection was closed before any HTTP answer (TLS, network RBAC)
    policy: str = ""  # the RBAC policy that allowed the request ("" when no RBAC applied)
    audit_denied: bool = False  # audit mode: the shadow rules would have denied it (allowed, logged)

    @property
    def forwarded(self) -> bool:
        return self.status is None and not self.closed

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


class Simulator:
    """A generated resource set (`{type_url: [message]}`, e.g. `xds.generate(view)`) as a request router.

    `peer` is the SPIFFE URI of the client certificate a connection presents (None: plaintext): it picks
    the filter chain (TLS inspector's `transport_protocol`), must pass the chain's client-certificate
    check and is the principal RBAC sees.
    """

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

    def _connect(self, port: int, peer: str | None) -> tuple[str, lc.FilterChain | None, str]:
        """(listener name, the chain that takes the connection or None, why it was closed)."""
        listener = self.listener(port)
        chain, closed = connection.chain(listener, peer)
        if chain is None:
            return listener.name, None, closed
        return listener.name, chain, connection.network_rbac(chain, peer)

    @staticmethod
    def _terminal(chain: lc.FilterChain) -> Message:
        config = chain.filters[-1].typed_config
        for cls in (hcm.HttpConnectionManager, tcp_proxy_pb2.TcpProxy):
            message = unpacked(config, cls)
            if message is not None:
                return cast(Message, message)
        raise NotImplementedError(f"terminal filter {config.type_url}")

    def http(
        self,
        port: int,
        host: str,
        path: str = "/",
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        peer: str | None = None,
    ) -> Outcome:
        """Send `method host path` to the HTTP listener on `port` (Host/authority as the client sent it)."""
        name, chain, closed = self._connect(port, peer)
        if chain is None or closed:
            return Outcome(name, closed=closed or "connection closed")
        manager = self._terminal(chain)
        if not isinstance(manager, hcm.HttpConnectionManager):
            raise LookupError(f"listener {name} is not an HTTP listener")
        table = (
            self.routes[manager.rds.route_config_name] if manager.HasField("rds") else manager.route_config
        )
        sent = {k.lower(): v for k, v in (headers or {}).items()} | {
            ":authority": host,
            ":method": method,
            ":path": path,
        }
        all_headers = connection.forwarded_client_cert(manager, peer, sent)
        vhost, route = self._select(table, host, path, all_headers)
        verdict = connection.http_rbac(manager, vhost, route, peer, all_headers)
        if verdict.denied:
            return Outcome(
                name,
                vhost.name if vhost else "",
                route.name if route else "",
                403,
                connection.local_reply(manager, 403, "rbac_access_denied_matched_policy[none]"),
            )
        outcome = self._route(name, vhost, route, all_headers)
        return replace(outcome, policy=verdict.policy, audit_denied=verdict.audit_denied)

    @staticmethod
    def _select(
        table: route_pb2.RouteConfiguration, host: str, path: str, headers: Mapping[str, str]
    ) -> tuple[rc.VirtualHost | None, rc.Route | None]:
        """Envoy's virtual host and first matching route (None where nothing matches)."""
        ranked = [
            (rank, vh) for vh in table.virtual_hosts for d in vh.domains if (rank := _domain_rank(d, host))
        ]
        if not ranked:
            return None, None
        vhost = min(ranked, key=lambda pair: pair[0])[1]
        return vhost, next((r for r in vhost.routes if route_matches(r.match, path, headers)), None)

    def _route(
        self,
        listener: str,
        vhost: rc.VirtualHost | None,
        route: rc.Route | None,
        headers: Mapping[str, str] | None = None,
    ) -> Outcome:
        if vhost is None:
            return Outcome(listener, status=404, body="(no virtual host: Envoy answers 404)")
        if route is None:
            return Outcome(listener, vhost.name, status=404, body="(no route: Envoy answers 404)")
        return self._action(listener, vhost.name, route, headers or {})

    def _action(
        self, listener: str, vhost: str, route: rc.Route, headers: Mapping[str, str] | None = None
    ) -> Outcome:
        if route.HasField("direct_response"):
            response = route.direct_response
            return Outcome(listener, vhost, route.name, response.status, _body(response, headers or {}))
        action = route.route
        if action.HasField("weighted_clusters"):
            weights = tuple((c.name, c.weight.value) for c in action.weighted_clusters.clusters)
        else:
            weights = ((action.cluster, 1),)
        return Outcome(listener, vhost, route.name, clusters=weights, endpoints=self._endpoints(weights))

    def tcp(self, port: int, peer: str | None = None) -> Outcome:
        name, chain, closed = self._connect(port, peer)
        if chain is None or closed:
            return Outcome(name, closed=closed or "connection closed")
        proxy = self._terminal(chain)
        if not isinstance(proxy, tcp_proxy_pb2.TcpProxy):
            raise LookupError(f"listener {name} is not a TCP listener")
        if proxy.HasField("weighted_clusters"):
            weights = tuple((c.name, c.weight) for c in proxy.weighted_clusters.clusters)
        else:
            weights = ((proxy.cluster, 1),)
        audit = connection.network_shadow_denied(chain, peer)
        return Outcome(name, clusters=weights, endpoints=self._endpoints(weights), audit_denied=audit)

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

    def upstream_peers(self, name: str) -> tuple[str, ...] | None:
        """The server identities a cluster accepts (URI SANs), or None when it speaks plaintext."""
        return connection.upstream_peers(self.clusters[name])


def _body(response: rc.DirectResponseAction, headers: Mapping[str, str]) -> str:
    """A direct response's body; a `body_format` with its `%REQ(header)%` operators filled in."""
    if not response.HasField("body_format"):
        return str(response.body.inline_string)
    text = str(response.body_format.text_format_source.inline_string)
    return re.sub(r"%REQ\(([^)]+)\)%", lambda m: headers.get(m.group(1).lower(), "-"), text)
