"""RDS: the outbound HTTP route table of a sidecar (its workload's HTTP proxy), and route matching pieces.

One virtual host per reachable HTTP service port, answering to `svc` (caller's namespace only),
`svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`, each with `:port`, and without it for the
service's default port (80, else its lowest HTTP port). TrafficSplit routes come first: conditional
splits (one route per HTTPMatch of their groups), then the unconditional split or the root's own
cluster. All-zero weights answer 503 saying so; any other host (a service this identity may not
call, or no service) gets the sidecar's own 403 naming the mesh and the host.

Cached per `OutboundSpec` (shared by every proxy with the same namespace and identity).
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.core.v3 import base_pb2
from envoy.config.core.v3 import substitution_format_string_pb2 as sfs
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2

from smimesh.mesh.model import HttpMatch, ServiceKey
from smimesh.mesh.names import service_hostnames
from smimesh.mesh.split import SplitRoute, WeightedBackend
from smimesh.mesh.view import OutboundPort, OutboundService, OutboundSpec
from smimesh.resources.envoy_limits import envoy_path_regex
from smimesh.xds import names

UNKNOWN_HOST_STATUS = names.UNKNOWN_HOST_STATUS
UNKNOWN_HOST_BODY = (
    "smimesh: access denied by the mesh at this workload's sidecar: no TrafficTarget lets its identity"
    " call %REQ(:AUTHORITY)% (or it is not a mesh service, or no instance of it runs); see `smimesh"
    " explain --from WORKLOAD --to"
    " SERVICE.NAMESPACE`. Address a service as http://SERVICE.NAMESPACE:PORT/ (or SERVICE within your"
    " namespace).\n"
)


def _regex(pattern: str) -> regex_pb2.RegexMatcher:
    return regex_pb2.RegexMatcher(regex=pattern)


def header_matchers(match: HttpMatch) -> list[rc.HeaderMatcher]:
    """`:method` (exact, or an alternation) and one full-match regex per header; `host` is `:authority`."""
    found = []
    if not match.any_method:
        methods = sorted(match.methods)
        string = (
            string_pb2.StringMatcher(exact=methods[0])
            if len(methods) == 1
            else string_pb2.StringMatcher(safe_regex=_regex("|".join(methods)))
        )
        found.append(rc.HeaderMatcher(name=":method", string_match=string))
    for name, value in match.headers:
        header = ":authority" if name == "host" else name
        found.append(
            rc.HeaderMatcher(name=header, string_match=string_pb2.StringMatcher(safe_regex=_regex(value)))
        )
    return found


def route_match(match: HttpMatch) -> rc.RouteMatch:
    """SPEC-DIGEST §8 A3: the path regex is start-anchored, end-open, query excluded: `(?:re).*`."""
    headers = header_matchers(match)
    if match.path_regex:
        return rc.RouteMatch(safe_regex=_regex(envoy_path_regex(match.path_regex)), headers=headers)
    return rc.RouteMatch(prefix="/", headers=headers)


def _direct(status: int, body: str) -> rc.DirectResponseAction:
    return rc.DirectResponseAction(status=status, body=base_pb2.DataSource(inline_string=body))


def _weighted(split: SplitRoute) -> rc.RouteAction:
    weights: dict[str, int] = {}
    cookies: dict[str, str] = {}
    for backend in split.live_backends:
        name = names.outbound_cluster(backend.service, backend.port)
        weights[name] = weights.get(name, 0) + backend.weight
        if backend.set_cookie:
            cookies[name] = backend.set_cookie
    clusters = [
        rc.WeightedCluster.ClusterWeight(
            name=n,
            weight=wrappers_pb2.UInt32Value(value=w),
            response_headers_to_add=_set_cookie(cookies.get(n)),
        )
        for n, w in weights.items()
    ]
    return rc.RouteAction(weighted_clusters=rc.WeightedCluster(clusters=clusters))


def _set_cookie(cookie: str | None) -> list[base_pb2.HeaderValueOption]:
    """Session affinity (issue 14): answers from this backend set the cookie that routes back to it."""
    if not cookie:
        return []
    header = base_pb2.HeaderValue(key="set-cookie", value=cookie)
    return [
        base_pb2.HeaderValueOption(
            header=header, append_action=base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
        )
    ]


def _split_route(name: str, match: rc.RouteMatch, split: SplitRoute, root: ServiceKey, port: int) -> rc.Route:
    if split.all_zero:
        return rc.Route(
            name=name, match=match, direct_response=_direct(503, split.zero_weight_message(root, port))
        )
    action = _weighted(split)
    if split.mirror is not None:
        action.request_mirror_policies.append(_mirror(split.mirror))
    return rc.Route(name=name, match=match, route=action)


def _mirror(backend: WeightedBackend) -> rc.RouteAction.RequestMirrorPolicy:
    """Issue 14: a copy of `weight` % of the requests to the backend; Envoy drops its answers."""
    share = base_pb2.RuntimeFractionalPercent(
        default_value=percent_pb2.FractionalPercent(numerator=backend.weight)  # denominator HUNDRED
    )
    return rc.RouteAction.RequestMirrorPolicy(
        cluster=names.outbound_cluster(backend.service, backend.port), runtime_fraction=share
    )


def _routes(service: ServiceKey, port: OutboundPort) -> list[rc.Route]:
    routes = []
    splits = port.splits
    for split in splits.conditional if splits else ():
        for match in split.matches:
            name = names.split_route(split.namespace, split.name, match.name)
            routes.append(_split_route(name, route_match(match), split, service, port.port))
    catch_all = rc.RouteMatch(prefix="/")
    if splits and splits.unconditional:
        name = names.split_route(service.namespace, splits.unconditional.name, "*")
        routes.append(_split_route(name, catch_all, splits.unconditional, service, port.port))
    elif splits and splits.reject_unmatched:
        no_match = _direct(404, splits.no_match_message())
        routes.append(rc.Route(name="no_route", match=catch_all, direct_response=no_match))
    else:
        action = rc.RouteAction(cluster=names.outbound_cluster(service, port.port))
        routes.append(rc.Route(name="default", match=catch_all, route=action))
    return routes


def _domains(service: OutboundService, port: int, namespace: str, cluster_domain: str) -> list[str]:
    hosts = service_hostnames(service.key, namespace, cluster_domain)
    with_port = [f"{h}:{port}" for h in hosts]
    return hosts + with_port if port == service.default_http_port else with_port


@lru_cache(maxsize=1 << 17)
def outbound_vhosts(
    service: OutboundService, namespace: str, cluster_domain: str
) -> tuple[rc.VirtualHost, ...]:
    """The virtual hosts of one service as seen from `namespace` (shared by every caller there)."""
    return tuple(
        rc.VirtualHost(
            name=names.outbound_vhost(service.key, p.port),
            domains=_domains(service, p.port, namespace, cluster_domain),
            routes=_routes(service.key, p),
        )
        for p in service.ports
        if p.protocol.is_http
    )


def unknown_host_vhost() -> rc.VirtualHost:
    """Every host the sidecar has no service for: a service its identity may not call (it sees only
    those: `mesh.visibility`), or none at all. Answered here, 403 naming the mesh and the host, the
    same for every service, so a service it cannot reach is in no part of its config; the outbound
    request log always records this answer (`access_log.request_log`): a denial at the caller."""
    body = sfs.SubstitutionFormatString(
        text_format_source=base_pb2.DataSource(inline_string=UNKNOWN_HOST_BODY), content_type="text/plain"
    )
    denied = rc.DirectResponseAction(status=UNKNOWN_HOST_STATUS, body_format=body)
    route = rc.Route(name=names.UNKNOWN_HOST_ROUTE, match=rc.RouteMatch(prefix="/"), direct_response=denied)
    return rc.VirtualHost(name=names.UNKNOWN_HOST_VHOST, domains=["*"], routes=[route])


@lru_cache(maxsize=1 << 10)
def outbound_route_config(spec: OutboundSpec) -> route_pb2.RouteConfiguration:
    vhosts = [vh for s in spec.services for vh in outbound_vhosts(s, spec.namespace, spec.cluster_domain)]
    return route_pb2.RouteConfiguration(
        name=names.OUTBOUND_HTTP_ROUTE, virtual_hosts=[*vhosts, unknown_host_vhost()]
    )
