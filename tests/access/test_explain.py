"""explain: the verdict, the deciding rule, the modes, and a suggestion that allows exactly the request."""

from __future__ import annotations

import yaml

from smimesh.mesh.explain import explain
from smimesh.mesh.model import Identity, ServiceKey
from smimesh.mesh.modes import MeshModes, NamespaceMode, TrafficPolicyMode
from smimesh.testing.access_world import model_of, routes, target, workload

CLIENT, WEB = Identity("shop", "client"), ServiceKey("shop", "web")
BASE = [
    workload("web"),
    workload("client"),
    routes("api", '[{name: read, pathRegex: "/books", methods: [GET]}]'),
    target("client-to-web", "web", ["client"], "[{kind: HTTPRouteGroup, name: api, matches: [read]}]"),
]


def test_allowed_names_the_target_and_the_match() -> None:
    result = explain(model_of(*BASE), CLIENT, WEB, None, "GET", "/books/1")
    assert result.allowed and result.port == 80 and result.mode == "smi"
    (decision,) = result.verdict.decisions
    assert (decision.policy, decision.rule) == ("TrafficTarget/shop/client-to-web", "HTTPRouteGroup/api#read")
    assert result.suggestion == ()


def test_denied_says_why_and_suggests_the_smallest_target_that_allows_it() -> None:
    model = model_of(*BASE)
    result = explain(model, CLIENT, WEB, 80, "POST", "/books/1", {"X-User": "a.b"})
    assert not result.allowed and "no rule matches" in result.verdict.reason
    suggested = [yaml.safe_dump(d) for d in result.suggestion]
    assert [d["kind"] for d in result.suggestion] == ["HTTPRouteGroup", "TrafficTarget"]
    grown = model_of(*BASE, *suggested)
    assert explain(grown, CLIENT, WEB, 80, "POST", "/books/1", {"X-User": "a.b"}).allowed
    # ...and nothing more: another method, a longer path, another header value stay denied.
    assert not explain(grown, CLIENT, WEB, 80, "PUT", "/books/1", {"X-User": "a.b"}).allowed
    assert not explain(grown, CLIENT, WEB, 80, "POST", "/books/12", {"X-User": "a.b"}).allowed
    assert not explain(grown, CLIENT, WEB, 80, "POST", "/books/1", {"X-User": "aXb"}).allowed


def test_a_stranger_is_denied_and_the_suggestion_names_it_as_the_only_source() -> None:
    model = model_of(*BASE, workload("other"))
    result = explain(model, Identity("shop", "other"), WEB, 80, "GET", "/books")
    assert not result.allowed and "no TrafficTarget lets shop/other in" in result.verdict.reason
    target_doc = result.suggestion[1]
    assert target_doc["spec"]["sources"] == [{"kind": "ServiceAccount", "name": "other", "namespace": "shop"}]


def test_modes_open_and_audit() -> None:
    opened = MeshModes(traffic_policy=TrafficPolicyMode.OPEN)
    result = explain(model_of(*BASE, permissive=True), CLIENT, WEB, 80, "DELETE", "/", modes=opened)
    assert result.allowed and result.mode == "open"
    audit = MeshModes(namespaces=(NamespaceMode("shop", audit=True),))
    result = explain(model_of(*BASE), CLIENT, WEB, 80, "DELETE", "/", modes=audit)
    assert result.allowed and not result.policy_allows and result.mode == "audit"


def test_tcp_ports_and_unknown_ports() -> None:
    tcp = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db, namespace: shop}
spec: {matches: {ports: [5432]}}
"""
    model = model_of(workload("db", port="tcp-db", number=5432), workload("client"), tcp)
    db = ServiceKey("shop", "db")
    denied = explain(model, CLIENT, db, 5432)
    assert not denied.allowed and denied.request is None and denied.protocol == "tcp"
    assert denied.suggestion[0]["kind"] == "TCPRoute" and denied.suggestion[0]["spec"]["matches"][
        "ports"
    ] == [5432]
    grown = model_of(
        workload("db", port="tcp-db", number=5432),
        workload("client"),
        tcp,
        *[yaml.safe_dump(d) for d in denied.suggestion],
    )
    assert explain(grown, CLIENT, db, 5432).allowed
    missing = explain(model, CLIENT, db, 9999)
    assert not missing.allowed and missing.suggestion == () and "no service port" in missing.verdict.reason
