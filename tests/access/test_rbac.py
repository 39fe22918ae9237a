"""RBAC generation: TrafficTargets become Envoy RBAC policies per inbound port, gated like explain."""

from __future__ import annotations

from envoy.config.rbac.v3 import rbac_pb2
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac

from smimesh.mesh.model import HttpMatch, Identity, Protocol
from smimesh.testing.access_world import model_of, routes, target, workload
from smimesh.xds.rbac import (
    http_rbac_filter,
    inbound_access,
    match_permission,
    network_rbac_filter,
    rbac_rules,
)

WEB = Identity("shop", "web")
ROUTES = routes(
    "api",
    """[{name: read, pathRegex: "/books/[0-9]+", methods: [GET, HEAD]},
        {name: admin, pathRegex: "/admin", methods: ["*"], headers: {x-admin: "yes", host: "web.*"}}]""",
)


def test_no_traffic_target_is_default_deny() -> None:
    model = model_of(workload("web"), workload("client"))
    access = inbound_access(model, WEB, "http", 8080, Protocol.HTTP)
    assert access.enforce and access.rules == ()
    config = http_rbac_filter(access)
    assert config is not None and config.rules.action == rbac_pb2.RBAC.ALLOW and not config.rules.policies


def test_a_target_becomes_one_policy_with_spiffe_principals_and_its_matches() -> None:
    model = model_of(
        workload("web"),
        workload("client"),
        ROUTES,
        target("client-to-web", "web", ["client"], "[{kind: HTTPRouteGroup, name: api, matches: [read]}]"),
    )
    access = inbound_access(model, WEB, "http", 8080, Protocol.HTTP)
    policies = rbac_rules(access).policies
    assert list(policies) == ["TrafficTarget/shop/client-to-web"]
    policy = policies["TrafficTarget/shop/client-to-web"]
    assert [p.authenticated.principal_name.exact for p in policy.principals] == [
        "spiffe://cluster.local/ns/shop/sa/client"
    ]
    (permission,) = policy.permissions
    methods, path = permission.and_rules.rules
    assert [r.header.string_match.exact for r in methods.or_rules.rules] == ["GET", "HEAD"]
    assert path.url_path.path.safe_regex.regex == "(?:/books/[0-9]+).*"  # start-anchored, end-open


def test_headers_full_match_host_is_authority_and_star_means_any_method() -> None:
    permission = match_permission(
        HttpMatch("admin", "/admin", ("*",), (("host", "web.*"), ("x-admin", "yes")))
    )
    rules = permission.and_rules.rules
    assert [r.WhichOneof("rule") for r in rules] == ["url_path", "header", "header"]
    assert [(r.header.name, r.header.string_match.safe_regex.regex) for r in rules[1:]] == [
        (":authority", "web.*"),
        ("x-admin", "yes"),
    ]
    assert match_permission(HttpMatch("all")).any


def test_a_rule_without_matches_allows_every_match_of_the_group() -> None:
    model = model_of(
        workload("web"),
        workload("client"),
        ROUTES,
        target("t", "web", ["client"], "[{kind: HTTPRouteGroup, name: api}]"),
    )
    policy = rbac_rules(inbound_access(model, WEB, "http", 8080, Protocol.HTTP)).policies[
        "TrafficTarget/shop/t"
    ]
    assert len(policy.permissions) == 2


def test_two_targets_on_one_destination_are_a_union() -> None:
    model = model_of(
        workload("web"),
        workload("client"),
        workload("admin"),
        ROUTES,
        target("a", "web", ["client"], "[{kind: HTTPRouteGroup, name: api, matches: [read]}]"),
        target("b", "web", ["admin"], "[{kind: HTTPRouteGroup, name: api, matches: [admin]}]"),
    )
    assert sorted(rbac_rules(inbound_access(model, WEB, "http", 8080, Protocol.HTTP)).policies) == [
        "TrafficTarget/shop/a",
        "TrafficTarget/shop/b",
    ]


def test_tcp_route_ports_gate_per_port_and_a_missing_group_allows_nothing() -> None:
    tcp = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db, namespace: shop}
spec: {matches: {ports: [5432]}}
"""
    model = model_of(
        workload("db", port="tcp-db", number=5432),
        workload("client"),
        tcp,
        target("t", "db", ["client"], "[{kind: TCPRoute, name: db}]"),
    )
    db = Identity("shop", "db")
    allowed = inbound_access(model, db, "tcp-db", 5432, Protocol.TCP)
    assert [r.policy for r in allowed.rules] == ["TrafficTarget/shop/t"] and allowed.rules[0].matches is None
    other_port = inbound_access(model, db, "tcp-other", 6000, Protocol.TCP)
    assert other_port.rules == ()
    network = network_rbac_filter(allowed)
    assert network is not None and network.stat_prefix == "inbound_tcp-db."
    assert network.rules.policies["TrafficTarget/shop/t"].permissions[0].any


def test_unknown_service_account_allows_nothing() -> None:
    model = model_of(
        workload("web"),
        workload("client"),
        ROUTES,
        target("t", "web", ["ghost"], "[{kind: HTTPRouteGroup, name: api}]"),
    )
    policy = rbac_rules(inbound_access(model, WEB, "http", 8080, Protocol.HTTP)).policies[
        "TrafficTarget/shop/t"
    ]
    assert [p.authenticated.principal_name.exact for p in policy.principals] == [
        "spiffe://cluster.local/ns/shop/sa/ghost"  # no workload runs as it: no certificate can carry it
    ]


def test_audit_is_shadow_rules_and_open_is_no_filter() -> None:
    model = model_of(workload("web"), workload("client"))
    audit = http_rbac_filter(inbound_access(model, WEB, "http", 8080, Protocol.HTTP, audit=True))
    assert isinstance(audit, http_rbac.RBAC)
    assert not audit.HasField("rules") and audit.HasField("shadow_rules")
    assert audit.shadow_rules_stat_prefix == "audit."
    opened = model_of(workload("web"), workload("client"), permissive=True)
    assert http_rbac_filter(inbound_access(opened, WEB, "http", 8080, Protocol.HTTP)) is None
