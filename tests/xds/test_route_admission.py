"""Admission by route (xds.route_stats): the per-match routes that admit their callers without the RBAC
filter decide exactly what the port's RBAC alone decides.

Property test over random ports: TrafficTargets with random sources and HTTPRouteGroup matches (some
allowing the port whatever the request), random callers (or none: plaintext) and random requests,
some carrying a forged `x-forwarded-client-cert`. Each request is followed the way Envoy follows it
(XFCC set by the connection manager, first matching route, the RBAC in force on it, or none where a
route turned the filter off; the simulator also asserts that such a route only admits what RBAC
allows) and its verdict must equal RBAC's over the original request. A request admitted by a route
is counted under a match that it fits and that allows its caller.
"""

from __future__ import annotations

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from smimesh.identity.spiffe import SpiffeId
from smimesh.mesh.model import HttpMatch, Protocol
from smimesh.mesh.modes import MtlsMode
from smimesh.testing import connection
from smimesh.testing.matchers import route_matches
from smimesh.testing.rbac_sim import decide
from smimesh.testing.simulator import Simulator
from smimesh.xds import inbound_access
from smimesh.xds.rbac import AccessRule, InboundAccess, rbac_rules
from smimesh.xds.route_stats import admits_by_route

CALLERS = [f"spiffe://cluster.local/ns/shop/sa/{name}" for name in ("a", "b.c", "d-e")]
MATCHES = [
    HttpMatch("read", "/books", ("GET",)),
    HttpMatch("write", "/books/[0-9]+", ("POST", "PUT")),
    HttpMatch("admin", "/admin", (), (("x-admin", "yes|true"),)),
    HttpMatch("all"),
]
HOST = "web.shop"

matches = st.lists(st.sampled_from(MATCHES), min_size=1, max_size=2, unique=True)
rules = st.lists(
    st.tuples(
        st.lists(st.sampled_from(CALLERS), min_size=1, max_size=2, unique=True),
        st.one_of(matches, matches, st.none()),  # a third allow the port whatever the request
    ),
    min_size=1,
    max_size=3,
)
requests = st.tuples(
    st.sampled_from(["/", "/books", "/books/12", "/books/x", "/admin", "/admin/1?q"]),
    st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    st.fixed_dictionaries(
        {},
        optional={
            "x-admin": st.sampled_from(["yes", "no"]),
            "x-forwarded-client-cert": st.sampled_from([f"URI={c}" for c in CALLERS]),
        },
    ),
)


def _access(drawn: list[tuple[list[str], list[HttpMatch] | None]], audit: bool) -> InboundAccess:
    found = []
    for index, (principals, matches) in enumerate(drawn):
        groups = ("api",) * len(matches) if matches is not None else ()
        found.append(
            AccessRule(f"TrafficTarget/shop/t{index}", tuple(sorted(principals)), _tuple(matches), groups)
        )
    return InboundAccess("http", Protocol.HTTP, tuple(found), True, audit)


def _tuple(matches: list[HttpMatch] | None) -> tuple[HttpMatch, ...] | None:
    return None if matches is None else tuple(matches)


def _plain() -> route_pb2.RouteConfiguration:
    app = rc.Route(
        name="app", match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster="local_app|http")
    )
    vhost = rc.VirtualHost(name="inbound|http", domains=["*"], routes=[app])
    return route_pb2.RouteConfiguration(name="inbound|http", virtual_hosts=[vhost])


@settings(max_examples=400, deadline=None)
@given(drawn=rules, audit=st.booleans(), peer=st.sampled_from([*CALLERS, None]), request=requests)
def test_routes_that_admit_callers_decide_what_rbac_alone_decides(
    drawn: list[tuple[list[str], list[HttpMatch] | None]],
    audit: bool,
    peer: str | None,
    request: tuple[str, str, dict[str, str]],
) -> None:
    access = _access(drawn, audit)
    own = SpiffeId("cluster.local", "shop", "web")
    security = inbound_access.InboundSecurity(access, own, MtlsMode.STRICT)
    manager = inbound_access.manager_overlay(security, "inbound|http")
    manager.http_filters.extend(inbound_access.http_filters(security))
    table = inbound_access.route_config(_plain(), access)
    assert table is not None
    path, method, extra = request
    sent = {":authority": HOST, ":method": method, ":path": path, **extra}
    headers = connection.forwarded_client_cert(manager, peer, sent)
    vhost, route = Simulator._select(table, HOST, path, headers)
    assert vhost is not None and route is not None
    verdict = connection.http_rbac(manager, vhost, route, peer, headers)
    rbac_alone = decide(
        rbac_rules(access), peer, {k: v for k, v in sent.items() if k != "x-forwarded-client-cert"}
    )
    if audit:
        assert not verdict.denied and verdict.audit_denied == (rbac_alone is None)
        return
    assert verdict.denied == (rbac_alone is None)
    if route.name != "app" and not verdict.denied:
        assert admits_by_route(access)
        match = next(m for m in MATCHES if route.name.endswith("#" + m.name))
        allowed = {p for r in access.rules if r.matches is None or match in r.matches for p in r.principals}
        assert peer in allowed and route_matches(route.match, path, headers)
