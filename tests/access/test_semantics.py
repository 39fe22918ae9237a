"""MeshConfig semantics switches for teams coming from OSM (`pathRegexMatch`, `tcpRouteAdmitsHttp`).

Checked on both sides that must agree: the RBAC the generator writes (`xds.rbac`) and `explain`
(`mesh.explain`), and `explain` names the switch whenever it decided the case. The real-Envoy
check of the same cases is `test_e2e_semantics.py`.
"""

from __future__ import annotations

import pytest

from smimesh.mesh import build_model
from smimesh.mesh.explain import explain
from smimesh.mesh.model import AccessSemantics, Identity, MeshModel, Protocol, ServiceKey
from smimesh.mesh.modes import DEFAULT_MODES, MeshModes, PathRegexMatch, changes, parse_mesh_config, summary
from smimesh.testing.access_world import inputs_of, routes, target, tcp_route, workload
from smimesh.xds.rbac import inbound_access, rbac_rules

WEB = Identity("shop", "web")
WEB_SERVICE = ServiceKey("shop", "web")
WORLD = (
    workload("web"),
    workload("client"),
    workload("other"),
    routes("api", '[{name: api, pathRegex: "/api", methods: [GET]}]'),
    target("client-to-web", "web", ["client"], "[{kind: HTTPRouteGroup, name: api}]"),
    tcp_route("web-port", [8080]),
    target("other-to-web", "web", ["other"], "[{kind: TCPRoute, name: web-port}]"),
)
SMI = AccessSemantics()
FULL = AccessSemantics(path_regex_full=True)
L4 = AccessSemantics(tcp_route_admits_http=True)


def _model(semantics: AccessSemantics = SMI, *extra: str) -> MeshModel:
    snapshot, instances = inputs_of(*WORLD, *extra)
    return build_model(snapshot, instances, semantics=semantics)


def _ask(model: MeshModel, source: str, path: str) -> tuple[bool, str, str]:
    result = explain(model, Identity("shop", source), WEB_SERVICE, 80, "GET", path)
    (decision,) = result.verdict.decisions
    return result.allowed, decision.note, result.verdict.reason


def test_mesh_config_reads_the_switches_and_defaults_to_the_smi_readings() -> None:
    head = "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec:\n"
    modes, problems = parse_mesh_config(head + "  pathRegexMatch: full\n  tcpRouteAdmitsHttp: true\n")
    assert problems == [] and modes.path_regex_match is PathRegexMatch.FULL
    assert modes.semantics == AccessSemantics(path_regex_full=True, tcp_route_admits_http=True)
    default, problems = parse_mesh_config(head + "  mtls: strict\n")
    assert problems == [] and default.semantics == AccessSemantics()


@pytest.mark.parametrize(
    ("line", "path", "expected"),
    [
        ("pathRegexMatch: whole", "spec.pathRegexMatch", "start | full"),
        ("tcpRouteAdmitsHttp: yes-please", "spec.tcpRouteAdmitsHttp", "true | false"),
        ("pathRegexMatches: full", "spec.pathRegexMatches", "pathRegexMatch"),
    ],
)
def test_a_bad_switch_is_located_with_what_was_expected(line: str, path: str, expected: str) -> None:
    text = f"apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {{name: mesh}}\nspec:\n  {line}\n"
    modes, problems = parse_mesh_config(text, "mesh.yaml")
    (problem,) = problems
    assert (problem.code, problem.path, problem.location.line) == ("SM6101", path, 5)
    assert expected in problem.expected and modes.semantics == AccessSemantics()


def test_path_regex_start_by_default_full_when_switched_and_explain_names_it() -> None:
    assert _ask(_model(), "client", "/api")[:2] == (True, "")  # the same under both: no note
    allowed, note, _ = _ask(_model(), "client", "/api/books")
    assert (
        allowed and "pathRegexMatch: start" in note and "with pathRegexMatch: full it would be denied" in note
    )
    allowed, note, reason = _ask(_model(FULL), "client", "/api/books")
    assert not allowed and "pathRegexMatch: full" in reason and "it would be allowed" in note
    assert _ask(_model(FULL), "client", "/api")[:2] == (True, "")


def test_tcp_route_only_target_on_an_http_port_and_explain_names_the_switch() -> None:
    allowed, _, reason = _ask(_model(), "other", "/anything")
    assert not allowed and "no rule matches" in reason
    assert (
        "tcpRouteAdmitsHttp: false" in reason
        and "with tcpRouteAdmitsHttp: true it would be allowed" in reason
    )
    result = explain(_model(L4), Identity("shop", "other"), WEB_SERVICE, 80, "DELETE", "/anything")
    (decision,) = result.verdict.decisions
    assert result.allowed and "tcpRouteAdmitsHttp: true" in decision.rule
    assert "with tcpRouteAdmitsHttp: false it would be denied" in decision.note


def test_a_tcp_route_beside_http_rules_still_only_narrows_them() -> None:
    both = target(
        "both", "web", ["third"], "[{kind: HTTPRouteGroup, name: api}, {kind: TCPRoute, name: web-port}]"
    )
    model = _model(L4, workload("third"), both)
    assert not explain(model, Identity("shop", "third"), WEB_SERVICE, 80, "GET", "/else").allowed
    assert explain(model, Identity("shop", "third"), WEB_SERVICE, 80, "GET", "/api").allowed


def test_rbac_writes_the_same_readings() -> None:
    def policies(semantics: AccessSemantics) -> dict[str, object]:
        access = inbound_access(_model(semantics), WEB, "http", 8080, Protocol.HTTP)
        return dict(rbac_rules(access).policies)

    default = policies(AccessSemantics())
    assert sorted(default) == ["TrafficTarget/shop/client-to-web"]  # the TCPRoute-only target: no HTTP
    (permission,) = default["TrafficTarget/shop/client-to-web"].permissions  # type: ignore[attr-defined]
    assert permission.and_rules.rules[1].url_path.path.safe_regex.regex == "(?:/api).*"
    (permission,) = policies(FULL)["TrafficTarget/shop/client-to-web"].permissions  # type: ignore[attr-defined]
    assert permission.and_rules.rules[1].url_path.path.safe_regex.regex == "(?:/api)"
    l4 = policies(L4)
    assert sorted(l4) == ["TrafficTarget/shop/client-to-web", "TrafficTarget/shop/other-to-web"]
    (permission,) = l4["TrafficTarget/shop/other-to-web"].permissions  # type: ignore[attr-defined]
    assert permission.any


def test_the_console_names_a_switch_that_changed() -> None:
    switched = MeshModes(path_regex_match=PathRegexMatch.FULL, tcp_route_admits_http=True)
    assert changes(DEFAULT_MODES, switched) == [
        "pathRegexMatch start -> full",
        "tcpRouteAdmitsHttp false -> true",
    ]
    assert summary(switched).endswith("pathRegexMatch full, tcpRouteAdmitsHttp true")
    assert "pathRegexMatch" not in summary(DEFAULT_MODES)
