"""Per-route figures on an inbound HTTP port: one Envoy route per HTTPRouteGroup match, with its own
cluster.

Owns `per_match_routes(app_route, access)`: the routes of a secured inbound route configuration, and
`counted_routes(access)`: their names. Every distinct (HTTPRouteGroup, match) the port's TrafficTargets
select becomes one route, in rule order, named `HTTPRouteGroup/<ns>/<group>#<match>`
(`names.route_name`), matching what the RBAC permission of that match matches (method, path regex as
`mesh.access.path_pattern` reads it, headers full-matched, `host` = `:authority`), and forwarding to
`names.route_cluster(port, name)`: a copy of the port's local app cluster (same endpoint, same
settings; `xds.generate` adds it to CDS exactly when the route exists). The app route stays last for
everything else. Access is not decided here: the RBAC rules still ride on the virtual host, so
splitting the route changes no verdict, only which route a request is counted under (the first match
it fits).

Why a cluster and not the route's `stat_prefix`: Envoy builds a route's stat names per request
(`vhost.<vhost>.route.<prefix>.upstream_rq_*`, about 4k instructions each), while a cluster's stats
are made once with the cluster, so `cluster.<route cluster>.upstream_rq_<N>xx` and `.upstream_rq_time`
cost nothing more than the app route's (callgrind, issue 10). Telemetry reads those as the port's
per-route metrics; the access log's `%ROUTE_NAME%` names the same route for `smimesh tap`.
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from smimesh.mesh.access import path_pattern
from smimesh.mesh.model import HttpMatch
from smimesh.xds.names import route_cluster, route_name
from smimesh.xds.rbac import InboundAccess


def _regex(pattern: str) -> string_pb2.StringMatcher:
    return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=pattern))


def _route_match(match: HttpMatch, path_regex_full: bool) -> rc.RouteMatch:
    route_match = rc.RouteMatch(prefix="/")
    if match.path_regex:
        route_match = rc.RouteMatch(
            safe_regex=regex_pb2.RegexMatcher(regex=path_pattern(match.path_regex, path_regex_full))
        )
    if not match.any_method:
        methods = "|".join(sorted(match.methods))
        route_match.headers.append(rc.HeaderMatcher(name=":method", string_match=_regex(f"(?:{methods})")))
    for name, regex in match.headers:
        envoy_name = ":authority" if name == "host" else name
        route_match.headers.append(rc.HeaderMatcher(name=envoy_name, string_match=_regex(regex)))
    return route_match


def _named_matches(access: InboundAccess) -> dict[str, HttpMatch]:
    named: dict[str, HttpMatch] = {}
    for rule in access.rules:
        namespace = rule.policy.split("/")[1]
        for match, group in zip(rule.matches or (), rule.groups, strict=False):
            named.setdefault(route_name(namespace, group, match.name), match)
    return named


def counted_routes(access: InboundAccess) -> tuple[str, ...]:
    """The names of the routes `per_match_routes` makes for `access`, in their order."""
    return tuple(_named_matches(access))


def per_match_routes(app_route: rc.Route, access: InboundAccess) -> list[rc.Route]:
    """One counted route per HTTPRouteGroup match of `access`, then `app_route` (never mutated)."""
    routes = []
    for name, match in _named_matches(access).items():
        route = rc.Route(name=name, match=_route_match(match, access.path_regex_full))
        route.route.CopyFrom(app_route.route)
        route.route.cluster = route_cluster(access.port_name, name)
        routes.append(route)
    return [*routes, app_route]
