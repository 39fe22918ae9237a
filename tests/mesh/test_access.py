"""evaluate_access: SPEC-DIGEST §3.6 worked examples and the §8 recommendations (A1, A2, A3, A4, A7, A8)."""

from __future__ import annotations

import pytest

from smimesh.mesh import Identity, Protocol, ServiceKey, build_model, evaluate_access
from smimesh.mesh.access import decide_identity
from smimesh.testing.bookstore import bookstore_model, load_world, world_instances

API_WORLD = """
apiVersion: v1
kind: Service
metadata: {name: api, namespace: default}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: api, namespace: default, labels: {app: api}}
spec: {serviceAccount: api-service, command: [x], ports: [{name: http, containerPort: 8080}]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: api-service-routes, namespace: default}
spec:
  matches:
  - {name: api, pathRegex: /api, methods: ["*"]}
  - {name: metrics, pathRegex: /metrics, methods: [GET]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: api-service-port, namespace: default}
spec: {matches: {ports: [8080]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: api-service-metrics, namespace: default}
spec:
  destination: {kind: ServiceAccount, name: api-service, namespace: default}
  rules: [{kind: HTTPRouteGroup, name: api-service-routes, matches: [metrics]}]
  sources: [{kind: ServiceAccount, name: prometheus, namespace: default}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: api-service-api, namespace: default}
spec:
  destination: {kind: ServiceAccount, name: api-service, namespace: default}
  rules:
  - {kind: TCPRoute, name: api-service-port}
  - {kind: HTTPRouteGroup, name: api-service-routes, matches: [api]}
  sources:
  - {kind: ServiceAccount, name: website-service, namespace: default}
  - {kind: ServiceAccount, name: payments-service}
"""
API = ServiceKey("default", "api")


def api_model(extra: str = ""):  # type: ignore[no-untyped-def]
    resources = load_world(API_WORLD + "\n---\n" + extra if extra else API_WORLD)
    return build_model(resources, world_instances(resources))


@pytest.mark.parametrize(
    ("source", "path", "method", "allowed", "by"),
    [
        ("website-service", "/api", "DELETE", True, "TrafficTarget/default/api-service-api"),
        ("payments-service", "/api/users?x=1", "GET", True, "TrafficTarget/default/api-service-api"),
        ("prometheus", "/metrics", "GET", True, "TrafficTarget/default/api-service-metrics"),
        ("prometheus", "/metrics", "POST", False, ""),
        ("prometheus", "/api", "GET", False, ""),
        ("website-service", "/metrics", "GET", False, ""),
        ("website-service", "/ap", "GET", False, ""),
        ("stranger", "/api", "GET", False, ""),
    ],
)
def test_spec_worked_example(source: str, path: str, method: str, allowed: bool, by: str) -> None:
    verdict = evaluate_access(api_model(), Identity("default", source), API, 80, method, path)
    assert verdict.allowed is allowed, verdict.reason
    assert verdict.decisions[0].policy == by


def test_verdict_says_which_match_decided() -> None:
    verdict = evaluate_access(api_model(), Identity("default", "website-service"), API, 80, "GET", "/api")
    assert verdict.decisions[0].rule == "HTTPRouteGroup/api-service-routes#api"
    assert verdict.decisions[0].container_port == 8080


def test_tcp_route_narrows_http_rules_of_the_same_target() -> None:
    narrowed = api_model().policies[0]
    ident = Identity("default", "api-service")
    website = Identity("default", "website-service")
    assert narrowed.name == "api-service-api"
    assert decide_identity((narrowed,), website, ident, 8080, Protocol.HTTP, None).allowed
    assert not decide_identity((narrowed,), website, ident, 9090, Protocol.HTTP, None).allowed


L4_WORLD = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: tcp-ports, namespace: default}
spec: {matches: {ports: [8301, 8302, 8300]}}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: UDPRoute
metadata: {name: udp-ports, namespace: default}
spec: {matches: {ports: [8301, 8302]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: consul, namespace: default}
spec:
  destination: {kind: ServiceAccount, name: server}
  rules: [{kind: TCPRoute, name: tcp-ports}, {kind: UDPRoute, name: udp-ports}]
  sources: [{kind: ServiceAccount, name: client}]
"""


@pytest.mark.parametrize(
    ("port", "protocol", "allowed"),
    [
        (8300, Protocol.TCP, True),
        (8301, Protocol.TCP, True),
        (8302, Protocol.TCP, True),
        (8301, Protocol.UDP, True),
        (8300, Protocol.UDP, False),
        (9999, Protocol.TCP, False),
        (8300, Protocol.HTTP, False),
    ],
)
def test_spec_l4_example(port: int, protocol: Protocol, allowed: bool) -> None:
    policies = build_model(load_world(L4_WORLD), []).policies
    client, server = Identity("default", "client"), Identity("default", "server")
    assert decide_identity(policies, client, server, port, protocol, None).allowed is allowed


def test_omitted_matches_select_the_whole_group() -> None:
    model = bookstore_model()  # buyer-to-bookstore has no `matches`
    buyer = Identity("bookstore", "buyer")
    root = ServiceKey("bookstore", "bookstore")
    assert evaluate_access(model, buyer, root, 80, "POST", "/buy", {"X-Shopper": "ann"}).allowed
    assert not evaluate_access(model, buyer, root, 80, "POST", "/buy").allowed  # header missing: no match


def test_headers_must_match_fully() -> None:
    model = bookstore_model()
    buyer, root = Identity("bookstore", "buyer"), ServiceKey("bookstore", "bookstore")
    assert not evaluate_access(model, buyer, root, 80, "POST", "/buy", {"x-shopper": ""}).allowed


def test_unknown_match_name_and_missing_group_allow_nothing() -> None:
    extra = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: sloppy, namespace: default}
spec:
  destination: {kind: ServiceAccount, name: api-service}
  rules:
  - {kind: HTTPRouteGroup, name: api-service-routes, matches: [nope]}
  - {kind: HTTPRouteGroup, name: missing-group}
  sources: [{kind: ServiceAccount, name: sloppy}]
"""
    model = api_model(extra)
    assert list(model.diagnostics) == []  # said once, as SM4001/SM4002, by resources.references
    assert not evaluate_access(model, Identity("default", "sloppy"), API, 80, "GET", "/api").allowed


def test_missing_tcp_route_fails_closed_for_http_rules_too() -> None:
    extra = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: typo, namespace: default}
spec:
  destination: {kind: ServiceAccount, name: api-service}
  rules: [{kind: TCPRoute, name: api-port-typo}, {kind: HTTPRouteGroup, name: api-service-routes}]
  sources: [{kind: ServiceAccount, name: typo}]
"""
    assert not evaluate_access(api_model(extra), Identity("default", "typo"), API, 80, "GET", "/api").allowed


def test_target_outside_its_destination_namespace_is_ignored() -> None:
    extra = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: foreign, namespace: other}
spec:
  destination: {kind: ServiceAccount, name: api-service, namespace: default}
  rules: [{kind: HTTPRouteGroup, name: api-service-routes}]
  sources: [{kind: ServiceAccount, name: intruder}]
"""
    model = api_model(extra)
    assert [d.code for d in model.diagnostics] == ["SM6010"]
    assert not evaluate_access(model, Identity("other", "intruder"), API, 80, "GET", "/api").allowed


def test_legacy_destination_port_is_an_extra_and() -> None:
    extra = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata:
  name: legacy
  namespace: default
  annotations: {smimesh.io/conversion-destination-port: "9999"}
spec:
  destination: {kind: ServiceAccount, name: api-service}
  rules: [{kind: HTTPRouteGroup, name: api-service-routes}]
  sources: [{kind: ServiceAccount, name: old}]
"""
    assert not evaluate_access(api_model(extra), Identity("default", "old"), API, 80, "GET", "/api").allowed


def test_unknown_service_port_and_permissive_mode() -> None:
    model = api_model()
    assert "no service port" in evaluate_access(model, Identity("default", "x"), API, 81, "GET", "/").reason
    resources = load_world(API_WORLD)
    permissive = build_model(resources, world_instances(resources), permissive=True)
    assert evaluate_access(permissive, Identity("default", "x"), API, 80, "GET", "/").allowed
