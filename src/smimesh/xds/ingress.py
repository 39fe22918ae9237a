"""The ingress listener of `smimesh up --ingress HOST:PORT`: external HTTP routed by Ingress host and path.

Owns `ingress_listener(view)`: on the ingress proxy only, a listener `ingress` on the user's address
whose inline route table has one virtual host per Ingress host (the any-host rules after a host's
own, and alone under `*`), Exact paths before Prefix paths (longest first; Prefix matches whole
path segments, as Kubernetes says). Requests go to the Service ports' outbound clusters over the
ingress's own mTLS identity, so the destination's RBAC decides (a TrafficTarget or an IngressBackend
must allow `smimesh-system/smimesh-ingress`). No rule: 404 naming the mesh.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

from smimesh.mesh.ingress import IngressRoute, IngressView
from smimesh.xds import names
from smimesh.xds.protos import packed, socket_address

INGRESS_LISTENER = "ingress"
NO_RULE_BODY = "smimesh ingress: no Ingress rule matches this host and path\n"
NO_BACKEND_BODY = (
    "smimesh ingress: access denied by the mesh at the ingress: no IngressBackend or TrafficTarget lets"
    " the ingress (smimesh-system/smimesh-ingress) call the Ingress backend {service}:{port}, or it is no"
    " Service port\n"
)


def _direct(status: int, body: str) -> rc.DirectResponseAction:
    return rc.DirectResponseAction(status=status, body=base_pb2.DataSource(inline_string=body))


def _match(route: IngressRoute) -> rc.RouteMatch:
    if route.exact:
        return rc.RouteMatch(path=route.path)
    trimmed = route.path.rstrip("/")
    return rc.RouteMatch(path_separated_prefix=trimmed) if trimmed else rc.RouteMatch(prefix="/")


def _route(route: IngressRoute, clusters: frozenset[str]) -> rc.Route:
    name = f"{route.service.namespace}|{route.service.name}|{route.port}|{route.path}"
    cluster = names.outbound_cluster(route.service, route.port)
    if cluster not in clusters:
        body = NO_BACKEND_BODY.format(service=route.service, port=route.port or "?")
        # Like any caller, the ingress holds config only for what it may call (mesh/visibility.py):
        # it answers the rest itself, as its sidecar would (403 naming the mesh; no change of such
        # a service touches it).
        return rc.Route(name=name, match=_match(route), direct_response=_direct(403, body))
    return rc.Route(name=name, match=_match(route), route=rc.RouteAction(cluster=cluster))


def _vhosts(view: IngressView, clusters: frozenset[str]) -> list[rc.VirtualHost]:
    any_host = [_route(r, clusters) for r in view.routes if not r.host]
    hosts = sorted({r.host for r in view.routes if r.host})
    found = [
        rc.VirtualHost(
            name=f"ingress|{host}",
            domains=[host],
            routes=[*(_route(r, clusters) for r in view.routes if r.host == host), *any_host],
        )
        for host in hosts
    ]
    no_rule = rc.Route(
        name="no_rule", match=rc.RouteMatch(prefix="/"), direct_response=_direct(404, NO_RULE_BODY)
    )
    found.append(rc.VirtualHost(name="ingress|*", domains=["*"], routes=[*any_host, no_rule]))
    for vhost in found[:-1]:
        vhost.routes.append(no_rule)
    return found


@lru_cache(maxsize=64)
def ingress_listener(view: IngressView, clusters: frozenset[str]) -> listener_pb2.Listener:
    """`clusters`: the outbound cluster names the proxy has (a route to any other answers 403)."""
    manager = hcm.HttpConnectionManager(
        stat_prefix=INGRESS_LISTENER,
        codec_type=hcm.HttpConnectionManager.AUTO,
        strip_any_host_port=True,  # `Host: shop.local:8080` matches the rule for shop.local
        route_config=route_pb2.RouteConfiguration(
            name=INGRESS_LISTENER, virtual_hosts=_vhosts(view, clusters)
        ),
        http_filters=[hcm.HttpFilter(name=names.ROUTER_FILTER, typed_config=packed(router_pb2.Router()))],
    )
    chain = lc.FilterChain(filters=[lc.Filter(name=names.HCM_FILTER, typed_config=packed(manager))])
    return listener_pb2.Listener(
        name=INGRESS_LISTENER, address=socket_address(view.host, view.port), filter_chains=[chain]
    )
