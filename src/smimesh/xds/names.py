"""Every Envoy resource name and stat prefix smimesh generates, in one module (OSM `pkg/service/types.go`).

Names are planned so telemetry can attribute traffic without guessing: an outbound cluster name
carries the destination service and port (`outbound|<ns>|<svc>|<port>`), so the stats of a caller's
sidecar (`cluster.<name>.upstream_rq_*`) say source (the sidecar's workload) → destination; inbound
listeners and their stat prefixes carry the workload port name. Kubernetes names contain no `|`
and the service/namespace names no `.`, so every name parses back (`parse_outbound_cluster`).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote

from smimesh.mesh.model import ServiceKey

ADS_CLUSTER: Final = "smimesh_xds"
OUTBOUND_HTTP_LISTENER: Final = "outbound_http"
OUTBOUND_HTTP_ROUTE: Final = "outbound_http"
OUTBOUND_HTTP_STAT_PREFIX: Final = "outbound_http"
UNKNOWN_HOST_VHOST: Final = "unknown_host"
UNKNOWN_HOST_ROUTE: Final = "unknown_host"  # the caller-side denial (xds/routes.py), logged always
UNKNOWN_HOST_STATUS: Final = 403  # what that route answers (the access log checks it before the route name)
CALLER_DENIED: Final = "caller_denied"  # no such cluster: a denied TCP upstream closes at once
HCM_FILTER: Final = "envoy.filters.network.http_connection_manager"
TCP_PROXY_FILTER: Final = "envoy.filters.network.tcp_proxy"
ROUTER_FILTER: Final = "envoy.filters.http.router"
HTTP_PROTOCOL_OPTIONS: Final = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

_OUTBOUND = "outbound"
_LOCAL_APP = "local_app"
_SEP = "|"


def outbound_cluster(service: ServiceKey, port: int) -> str:
    """The cluster (and its EDS resource) of one service port: the service's own endpoints."""
    return _SEP.join((_OUTBOUND, service.namespace, service.name, str(port)))


def parse_outbound_cluster(name: str) -> tuple[ServiceKey, int] | None:
    parts = name.split(_SEP)
    if len(parts) != 4 or parts[0] != _OUTBOUND or not parts[3].isdigit():
        return None
    return ServiceKey(parts[1], parts[2]), int(parts[3])


def outbound_vhost(service: ServiceKey, port: int) -> str:
    return f"{service.namespace}{_SEP}{service.name}{_SEP}{port}"


def split_route(namespace: str, split: str, match: str) -> str:
    """Route name of one TrafficSplit route (`match` is the HTTPMatch name, or `*` for unconditional)."""
    return _SEP.join(("split", namespace, split, match))


ROUTE_KIND = "HTTPRouteGroup"  # inbound routes counted per match (xds/route_stats.py)


def route_name(namespace: str, group: str, match: str) -> str:
    """The name of the route of one HTTPRouteGroup match (`%ROUTE_NAME%` in the request log)."""
    return f"{ROUTE_KIND}/{namespace}/{group}#{match}"


def parse_route_stat_name(name: str) -> tuple[str, str, str] | None:
    """(namespace, group, match) of a `route_name`, None for any other route."""
    kind, _, rest = name.partition("/")
    namespace, _, tail = rest.partition("/")
    group, hash_, match = tail.partition("#")
    if kind != ROUTE_KIND or not namespace or not group or not hash_:
        return None
    return namespace, group, match


# Envoy splits a stat name at dots (and writes `:` as `_`), but HTTPRouteGroup and match names may hold
# them: in a route cluster's name they are percent-encoded, so its stats parse back like any other.
_STAT_ESCAPES: Final = {"%": "%25", ".": "%2E", ":": "%3A"}


def route_cluster(port_name: str, route: str) -> str:
    """The copy of the port's local app cluster that the route named `route` (a `route_name`) forwards
    to: its `cluster.<name>.upstream_rq_*` stats are that route's requests (xds/route_stats.py)."""
    escaped = "".join(_STAT_ESCAPES.get(char, char) for char in route)
    return _SEP.join((inbound_cluster(port_name), escaped))


def parse_route_cluster(name: str) -> tuple[str, str] | None:
    """(port name, route name) of a `route_cluster`, None for any other cluster."""
    prefix, _, rest = name.partition(_SEP)
    port_name, sep, escaped = rest.partition(_SEP)
    route = unquote(escaped)
    if prefix != _LOCAL_APP or not port_name or not sep or "." in escaped or ":" in escaped:
        return None
    return (port_name, route) if parse_route_stat_name(route) else None


def tcp_upstream_listener(service: ServiceKey, port: int) -> str:
    return _SEP.join(("outbound_tcp", service.namespace, service.name, str(port)))


def tcp_upstream_stat_prefix(service: ServiceKey, port: int) -> str:
    return f"outbound_tcp_{service.namespace}_{service.name}_{port}"


def udp_upstream_listener(service: ServiceKey, port: int) -> str:
    return _SEP.join(("outbound_udp", service.namespace, service.name, str(port)))


def udp_upstream_cluster(service: ServiceKey, port: int) -> str:
    """The static cluster of a caller's UDP upstream (no EDS: its endpoints are in the caller's view)."""
    return _SEP.join(("outbound_udp", service.namespace, service.name, str(port)))


def udp_upstream_stat_prefix(service: ServiceKey, port: int) -> str:
    return f"outbound_udp_{service.namespace}_{service.name}_{port}"


def inbound_listener(port_name: str) -> str:
    return f"inbound{_SEP}{port_name}"


def inbound_stat_prefix(port_name: str) -> str:
    return f"inbound_{port_name}"


def inbound_cluster(port_name: str) -> str:
    """The static cluster of the local app behind one Workload port."""
    return f"{_LOCAL_APP}{_SEP}{port_name}"


def inbound_route(port_name: str) -> str:
    return f"inbound{_SEP}{port_name}"
