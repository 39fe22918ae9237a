"""Semantic checks: RE2 (what Python's `re` accepts and Envoy would refuse), names, and references."""

from __future__ import annotations

import re

import pytest

from smimesh.resources import dns
from smimesh.resources.validate import re2_error

# Each is a valid Python regex that RE2 (Envoy's safe_regex) rejects.
PYTHON_ONLY = [
    r"/api/(?=v1)",
    r"/api/(?!internal)",
    r"(?<=/)x",
    r"(?<!a)b",
    r"(a)\1",
    r"(?P<n>a)(?P=n)",
    r"a{1,1001}",
    r"(?>atomic)",
    r"a++",
    r"(a)?(?(1)b|c)",
]
RE2_OK = [
    "/api/.*",
    ".*",
    "^/metrics$",
    r"/v\d+/items/[^/]+",
    "(?i)android",
    r"(?P<name>\w+)",
    "",
    "a{2,1000}",
]


@pytest.mark.parametrize("pattern", PYTHON_ONLY)
def test_python_accepts_but_re2_rejects(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error:
        pytest.skip("this Python also rejects it")
    assert re2_error(pattern)


@pytest.mark.parametrize("pattern", RE2_OK)
def test_re2_accepts_ordinary_route_regexes(pattern: str) -> None:
    assert re2_error(pattern) == ""


@pytest.mark.parametrize(
    ("check", "value", "ok"),
    [
        (dns.dns1123_label, "web-1", True),
        (dns.dns1123_label, "-web", False),
        (dns.dns1123_label, "a" * 64, False),
        (dns.dns1123_subdomain, "api.shop", True),
        (dns.dns1123_subdomain, "Api", False),
        (dns.dns1035_label, "web", True),
        (dns.dns1035_label, "1web", False),
        (dns.label_key, "app.kubernetes.io/name", True),
        (dns.label_key, "bad key", False),
        (dns.label_key, "/name", False),
        (dns.label_value, "", True),
        (dns.label_value, "v1.2_beta", True),
        (dns.label_value, "-x", False),
        (dns.iana_service_name, "http-alt", True),
        (dns.iana_service_name, "very-long-port-name", False),
        (dns.iana_service_name, "80", False),
        (dns.env_name, "MY_VAR.x", True),
        (dns.env_name, "1X", False),
        (dns.http_header_name, "x-request-id", True),
        (dns.http_header_name, "user agent", False),
    ],
)
def test_name_rules(check, value: str, ok: bool) -> None:  # type: ignore[no-untyped-def]
    assert (check(value) == "") is ok


def codes_paths(result):  # type: ignore[no-untyped-def]
    return sorted((d.code, d.path) for d in result.diagnostics)


def test_a_clean_world_has_no_diagnostics(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: v1
        kind: Service
        metadata: {name: bookstore, namespace: shop}
        spec:
          selector: {app: bookstore}
          ports: [{name: http, port: 80, targetPort: 8080}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: bookstore-v2, namespace: shop}
        spec:
          selector: {app: bookstore, version: v2}
          ports: [{name: http, port: 80, targetPort: http}]
        ---
        apiVersion: smimesh.io/v1alpha1
        kind: Workload
        metadata: {name: bookstore-v2, namespace: shop, labels: {app: bookstore, version: v2}}
        spec:
          serviceAccount: bookstore
          command: [python3, app.py]
          env: {GREETING: hi}
          ports: [{name: http, containerPort: 8080}]
        ---
        apiVersion: split.smi-spec.io/v1alpha4
        kind: TrafficSplit
        metadata: {name: canary, namespace: shop}
        spec:
          service: bookstore
          backends: [{service: bookstore, weight: 0}, {service: bookstore-v2, weight: 100}]
        ---
        apiVersion: specs.smi-spec.io/v1alpha4
        kind: HTTPRouteGroup
        metadata: {name: routes, namespace: shop}
        spec:
          matches:
          - {name: books, pathRegex: "/books/.*", methods: [GET], headers: [{user-agent: ".*Android.*"}]}
          - {name: all}
        ---
        apiVersion: access.smi-spec.io/v1alpha3
        kind: TrafficTarget
        metadata: {name: allow, namespace: shop}
        spec:
          destination: {kind: ServiceAccount, name: bookstore, namespace: shop}
          rules: [{kind: HTTPRouteGroup, name: routes, matches: [books]}]
          sources: [{kind: ServiceAccount, name: bookbuyer, namespace: buyers}]
    """
    result = load(text)
    # the root as its own backend is worth a warning, and nothing else is wrong
    assert codes_paths(result) == [("SM3032", "spec.backends[0].service")]
    assert len(result.objects) == 6


def test_backends_are_eligible_per_root_port(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: v1
        kind: Service
        metadata: {name: birds}
        spec: {ports: [{name: http, port: 8080}, {name: grpc, port: 9090}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: blue}
        spec: {ports: [{name: http, port: 8080}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: green}
        spec: {ports: [{name: http, port: 8080}, {name: grpc, port: 9090}]}
        ---
        apiVersion: split.smi-spec.io/v1alpha4
        kind: TrafficSplit
        metadata: {name: birds}
        spec:
          service: birds
          backends: [{service: blue, weight: 10}, {service: green, weight: 0}]
    """
    found = sorted((d.code, d.message) for d in load(text).diagnostics)
    assert [c for c, _ in found] == ["SM4006", "SM4007"]
    assert "port 9090" in found[0][1] and "on port 9090" in found[1][1]


def test_identity_check_respects_source_namespaces(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: access.smi-spec.io/v1alpha3
        kind: TrafficTarget
        metadata: {name: allow, namespace: store}
        spec:
          destination: {kind: ServiceAccount, name: bookstore}
          rules: [{kind: TCPRoute, name: tcp}]
          sources: [{kind: ServiceAccount, name: bookbuyer, namespace: buyers}]
        ---
        apiVersion: specs.smi-spec.io/v1alpha4
        kind: TCPRoute
        metadata: {name: tcp, namespace: store}
        spec: {matches: {ports: []}}
        ---
        apiVersion: smimesh.io/v1alpha1
        kind: Workload
        metadata: {name: buyer, namespace: buyers}
        spec: {serviceAccount: bookbuyer, command: [python3, app.py]}
        ---
        apiVersion: smimesh.io/v1alpha1
        kind: Workload
        metadata: {name: thief, namespace: buyers}
        spec: {serviceAccount: bookbuyr, command: [python3, app.py]}
    """
    (d,) = load(text).diagnostics
    assert (d.code, d.object.name, d.hint) == ("SM4009", "thief", "did you mean 'bookbuyer'?")


def test_regex_checks_follow_every_layout(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: specs.smi-spec.io/v1alpha2
        kind: HTTPRouteGroup
        metadata: {name: old}
        matches:
        - name: a
          pathRegex: "(?=x)"
          headers: [{cookie: "(a)\\\\1"}]
        ---
        apiVersion: specs.smi-spec.io/v1alpha4
        kind: HTTPRouteGroup
        metadata: {name: new}
        spec:
          matches:
          - name: a
            headers: {cookie: "(?<=x)"}
    """
    assert codes_paths(load(text)) == [
        ("SM3010", "matches[0].pathRegex"),
        ("SM3011", "matches[0].headers[0].cookie"),
        ("SM3011", "spec.matches[0].headers.cookie"),
    ]
