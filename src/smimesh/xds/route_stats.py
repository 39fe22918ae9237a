"""Per-route figures and admission on an inbound HTTP port: one Envoy route per HTTPRouteGroup match,
with its own cluster, that admits the callers allowed to use that match.

Owns `per_match_routes(app_route, access)`: the routes of a secured inbound route configuration,
`counted_routes(access)`: their names, and `admits_by_route(access)`: whether those routes admit
their callers themselves (below). Every distinct (HTTPRouteGroup, match) the port's TrafficTargets
select becomes one route, in rule order, named `HTTPRouteGroup/<ns>/<group>#<match>`
(`names.route_name`), matching what the RBAC permission of that match matches (method, path regex as
`mesh.access.path_pattern` reads it, headers full-matched, `host` = `:authority`), and forwarding to
`names.route_cluster(port, name)`: a copy of the port's local app cluster (same endpoint, same
settings; `xds.generate` adds it to CDS exactly when the route exists). The app route stays last for
everything else.

Admission by route (enforced RBAC, not audit: `admits_by_route`). A counted route also matches the
caller: the connection manager sets `x-forwarded-client-cert` from the verified client certificate
(SANITIZE_SET, the URI SAN only: `By=<own>;Hash=<sha256>;URI=<peer>`, a caller's own header is
dropped first), and the route requires that header to end in `;URI=<one of the principals allowed
this match>` (the sources of the TrafficTargets that select it, and of those that allow the port
whatever the request). Such a route turns the RBAC filter off (`FilterConfig.disabled`): what it
admits is a subset of what RBAC allows, so the verdict is unchanged, and the RBAC engine's ~10k
instructions per request (it writes its verdict into the request's dynamic metadata) are saved
(callgrind, issue 10; docs/architecture.md). Everyone else falls through to the next route that
fits, at last the app route, where RBAC decides as before: a denial is still RBAC's 403 naming the
mesh, counted and logged as `denied` (its request log line names the route RBAC judged it on, the
app route, where it used to name the first match it fitted). The header is removed before the
request reaches the app (the virtual host's `request_headers_to_remove`), so the app sees what it
saw before. A request is counted under the first match that fits it and allows its caller; the
port's RBAC `allowed` counter no longer counts what the routes admitted (`explain --live` adds them).

Why a cluster and not the route's `stat_prefix`: Envoy builds a route's stat names per request
(`vhost.<vhost>.route.<prefix>.upstream_rq_*`, about 4k instructions each), while a cluster's stats
are made once with the cluster, so `cluster.<route cluster>.upstream_rq_<N>xx` and `.upstream_rq_time`
cost nothing more than the app route's (callgrind, issue 10). Telemetry reads those as the port's
per-route metrics; the access log's `%ROUTE_NAME%` names the same route for `smimesh tap`.
"""

from __future__ import annotations

import re

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import regex_pb2, string_pb2

from smimesh.mesh.access import path_pattern
from smimesh.mesh.model import HttpMatch
from smimesh.xds.names import route_cluster, route_name
from smimesh.xds.protos import packed
from smimesh.xds.rbac import HTTP_RBAC_FILTER, InboundAccess

CLIENT_CERT_HEADER = "x-forwarded-client-cert"
RBAC_OFF = packed(rc.FilterConfig(disabled=True))  # a route that admitted its caller (module doc)


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


def _named_matches(access: InboundAccess) -> dict[str, tuple[HttpMatch, tuple[str, ...]]]:
    """Each counted route's match and the principals allowed to use it (sorted), in rule order."""
    anything = {p for rule in access.rules if rule.matches is None for p in rule.principals}
    named: dict[str, tuple[HttpMatch, set[str]]] = {}
    for rule in access.rules:
        namespace = rule.policy.split("/")[1]
        for match, group in zip(rule.matches or (), rule.groups, strict=False):
            _, principals = named.setdefault(route_name(namespace, group, match.name), (match, set(anything)))
            principals.update(rule.principals)
    return {name: (match, tuple(sorted(principals))) for name, (match, principals) in named.items()}


def admits_by_route(access: InboundAccess) -> bool:
    """Whether the port has counted routes that admit their callers themselves (module doc): enforced
    RBAC only; audit keeps every request under the shadow rules, which must see it."""
    return access.enforce and not access.audit and any(rule.matches for rule in access.rules)


def caller_matcher(principals: tuple[str, ...]) -> rc.HeaderMatcher:
    """`x-forwarded-client-cert` (as SANITIZE_SET with the URI writes it) naming one of `principals`."""
    if len(principals) == 1:
        last = string_pb2.StringMatcher(suffix=";URI=" + principals[0])
    else:
        last = _regex(".*;URI=(?:" + "|".join(re.escape(p) for p in principals) + ")")
    return rc.HeaderMatcher(name=CLIENT_CERT_HEADER, string_match=last)


def counted_routes(access: InboundAccess) -> tuple[str, ...]:
    """The names of the routes `per_match_routes` makes for `access`, in their order."""
    return tuple(_named_matches(access))


def per_match_routes(app_route: rc.Route, access: InboundAccess) -> list[rc.Route]:
    """One counted route per HTTPRouteGroup match of `access`, then `app_route` (never mutated)."""
    routes = []
    admits = admits_by_route(access)
    for name, (match, principals) in _named_matches(access).items():
        route = rc.Route(name=name, match=_route_match(match, access.path_regex_full))
        if admits:
            route.match.headers.append(caller_matcher(principals))
            route.typed_per_filter_config[HTTP_RBAC_FILTER].CopyFrom(RBAC_OFF)
        route.route.CopyFrom(app_route.route)
        route.route.cluster = route_cluster(access.port_name, name)
        routes.append(route)
    return [*routes, app_route]
