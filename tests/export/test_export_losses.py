"""Every loss code of the export report, each triggered by a minimal input, and the CLI contract
(stdout applyable, report on stderr or --report, --strict turns a loss into exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from smimesh.diagnostics import Severity, all_codes
from smimesh.export import codes
from smimesh.testing.export_kit import codes_of, export_yaml, hrg, tt

SVC = """
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: ns}}
spec: {{selector: {{app: {app}}}, ports: [{{name: {port_name}, port: 80, targetPort: 8080}}]}}
"""
WL = """
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: ns, labels: {labels}}}
spec: {{serviceAccount: {sa}, command: [x], ports: [{{name: http, containerPort: 8080}}]}}
"""


def svc(name: str, app: str | None = None, port_name: str = "http") -> str:
    return SVC.format(name=name, app=app or name, port_name=port_name)


def wl(name: str, sa: str, labels: str | None = None) -> str:
    return WL.format(name=name, sa=sa, labels=labels or f"{{app: {name}}}")


def docs(*parts: str) -> str:
    return "\n---\n".join(p.strip() for p in parts)


def split(
    name: str, root: str, backends: dict[str, int], matches: tuple[str, ...] = (), created: str = ""
) -> str:
    backend_list = ", ".join(f"{{service: {b}, weight: {w}}}" for b, w in backends.items())
    match_list = (
        f", matches: [{', '.join(f'{{kind: HTTPRouteGroup, name: {m}}}' for m in matches)}]"
        if matches
        else ""
    )
    stamp = f", creationTimestamp: '{created}'" if created else ""
    return (
        "apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\n"
        f"metadata: {{name: {name}, namespace: ns{stamp}}}\n"
        f"spec: {{service: {root}, backends: [{backend_list}]{match_list}}}"
    )


def group(name: str, matches: str) -> str:
    return hrg(name, matches)


def target(name: str, dest: str, sources: list[str], rules: str) -> str:
    return tt(name, dest, sources, rules)


ROOTS = docs(
    svc("web"), svc("web-v1", "web-v1"), svc("web-v2", "web-v2"), wl("web-v1", "web"), wl("web-v2", "web")
)
HTTP_ALL = "[{kind: HTTPRouteGroup, name: all}]"
GET_ALL = group("all", "[{name: all, pathRegex: '/.*', methods: [GET]}]")
POLICY = docs(svc("api"), wl("api", "api"), wl("client", "client"), svc("client"))


def test_no_counterpart_all_zero_consul_splitter() -> None:
    out = export_yaml(docs(ROOTS, split("s", "web", {"web-v1": 0, "web-v2": 0})), "consul")
    assert codes.NO_COUNTERPART in codes_of(out)
    assert not [o for o in out.objects if o["kind"] == "ServiceSplitter"]


def test_no_gateway_access() -> None:
    out = export_yaml(
        docs(POLICY, GET_ALL, target("t", "api", ["client"], "[{kind: HTTPRouteGroup, name: all}]")),
        "gateway-api",
    )
    assert codes_of(out).count(codes.NO_GATEWAY_ACCESS) == 1 and out.objects == []


def test_split_unresolved_backend_missing() -> None:
    out = export_yaml(docs(ROOTS, split("s", "web", {"web-v1": 1, "gone": 1})), "gateway-api")
    assert codes.SPLIT_UNRESOLVED in codes_of(out)
    backends = out.objects[0]["spec"]["rules"][0]["backendRefs"]
    assert [b["name"] for b in backends] == ["web-v1"]


def test_precedence_differs() -> None:
    header = group("h", "[{name: h, headers: {x-v: two}}]")
    prefix = group("p", "[{name: p, pathRegex: '/api/v2$'}]")
    out = export_yaml(
        docs(
            ROOTS,
            header,
            prefix,
            split("a", "web", {"web-v1": 1}, ("h",), "2024-01-01T00:00:00Z"),
            split("b", "web", {"web-v2": 1}, ("p",), "2024-01-02T00:00:00Z"),
        ),
        "gateway-api",
    )
    assert codes.PRECEDENCE in codes_of(out)
    finding = next(d for d in out.findings if d.code == codes.PRECEDENCE)
    assert finding.object.name == "b"


def test_no_precedence_finding_when_disjoint() -> None:
    one = group("one", "[{name: one, headers: {x-v: one}}]")
    two = group("two", "[{name: two, headers: {x-v: two}, pathRegex: '/x$'}]")
    out = export_yaml(
        docs(
            ROOTS,
            one,
            two,
            split("a", "web", {"web-v1": 1}, ("one",), "2024-01-01T00:00:00Z"),
            split("b", "web", {"web-v2": 1}, ("two",), "2024-01-02T00:00:00Z"),
        ),
        "gateway-api",
    )
    assert codes.PRECEDENCE not in codes_of(out)


def test_not_http_split() -> None:
    tcp_root = docs(svc("db", "db-v1", "tcp-db"), svc("db-v1", "db-v1", "tcp-db"), wl("db-v1", "db"))
    out = export_yaml(docs(tcp_root, split("s", "db", {"db-v1": 1})), "gateway-api")
    assert codes.NOT_HTTP in codes_of(out) and out.objects == []


@pytest.mark.parametrize(
    ("target_name", "kind"), [("consul", "ServiceSplitter"), ("istio", "VirtualService")]
)
def test_weights_rounded(target_name: str, kind: str) -> None:
    out = export_yaml(docs(ROOTS, split("s", "web", {"web-v1": 1, "web-v2": 2})), target_name)
    assert codes.WEIGHTS_ROUNDED in codes_of(out)
    obj = next(o for o in out.objects if o["kind"] == kind)
    if kind == "ServiceSplitter":
        assert [s["weight"] for s in obj["spec"]["splits"]] == [33.33, 66.67]
    else:
        assert [r["weight"] for r in obj["spec"]["http"][0]["route"]] == [33, 67]


def test_exact_weights_are_not_a_loss() -> None:
    out = export_yaml(docs(ROOTS, split("s", "web", {"web-v1": 9, "web-v2": 1})), "consul")
    assert codes.WEIGHTS_ROUNDED not in codes_of(out)


def test_conditional_weights_consul() -> None:
    out = export_yaml(docs(ROOTS, GET_ALL, split("s", "web", {"web-v1": 1, "web-v2": 1}, ("all",))), "consul")
    assert codes.CONDITIONAL_WEIGHTS in codes_of(out)


def test_no_selector_when_labels_are_shared() -> None:
    shared = docs(
        svc("api"),
        wl("api", "api", "{app: api}"),
        wl("api-admin", "admin", "{app: api}"),
        wl("client", "client"),
    )
    out = export_yaml(
        docs(shared, GET_ALL, target("t", "api", ["client"], "[{kind: HTTPRouteGroup, name: all}]")), "istio"
    )
    assert codes.NO_SELECTOR in codes_of(out)
    assert not [o for o in out.objects if o["metadata"]["name"] == "t"]


def test_deployment_gives_the_labels() -> None:
    deployment = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: ns}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, tier: back}}
    spec: {serviceAccountName: api, containers: [{name: c, image: x}]}
"""
    out = export_yaml(
        docs(
            svc("api"),
            deployment,
            GET_ALL,
            target("t", "api", ["client"], "[{kind: HTTPRouteGroup, name: all}]"),
        ),
        "istio",
    )
    policy = next(o for o in out.objects if o["metadata"]["name"] == "t")
    assert policy["spec"]["selector"]["matchLabels"] == {"app": "api", "tier": "back"}
    assert policy["spec"]["rules"][0]["to"][0]["operation"]["ports"] == ["8080"]


def test_pattern_refused_never_widens() -> None:
    regex = group("r", "[{name: r, pathRegex: '/books/[0-9]+'}, {name: ok, pathRegex: '/ok'}]")
    out = export_yaml(
        docs(POLICY, regex, target("t", "api", ["client"], "[{kind: HTTPRouteGroup, name: r}]")), "istio"
    )
    assert codes.PATTERN_REFUSED in codes_of(out)
    policy = next(o for o in out.objects if o["metadata"]["name"] == "t")
    assert [r["to"][0]["operation"]["paths"] for r in policy["spec"]["rules"]] == [["/ok*"]]


def test_no_service_for_an_account_consul() -> None:
    out = export_yaml(
        docs(
            svc("api"),
            wl("api", "api"),
            wl("client", "client"),
            GET_ALL,
            target("t", "api", ["client"], "[{kind: HTTPRouteGroup, name: all}]"),
        ),
        "consul",
    )
    assert codes.NO_SERVICE in codes_of(out)


def test_ports_refused_udp_istio() -> None:
    udp = (
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: UDPRoute\n"
        "metadata: {name: u, namespace: ns}\nspec: {matches: {ports: [53]}}"
    )
    out = export_yaml(
        docs(POLICY, udp, target("t", "api", ["client"], "[{kind: UDPRoute, name: u}]")), "istio"
    )
    assert codes.PORTS_REFUSED in codes_of(out)


def test_every_loss_code_is_tested_here() -> None:
    text = Path(__file__).read_text()
    losses = [c for c in all_codes() if c.code.startswith("SM8") and c.severity is Severity.WARNING]
    names = {v: k for k, v in vars(codes).items() if isinstance(v, str) and v.startswith("SM8")}
    assert losses and all(f"codes.{names[c.code]}" in text for c in losses)


# --- the command ----------------------------------------------------------------------------------
def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smimesh", "export", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def test_cli_stdout_is_applyable_and_report_goes_to_stderr(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(docs(ROOTS, split("s", "web", {"web-v1": 1, "web-v2": 2})))
    done = _run(tmp_path, "--to", "gateway-api", "-f", "in.yaml")
    assert done.returncode == 0, done.stderr
    objects = list(yaml.safe_load_all(done.stdout))
    assert [o["kind"] for o in objects] == ["HTTPRoute"]
    assert "TrafficSplit/ns/s" in done.stderr and "-> HTTPRoute/ns/web-80" in done.stderr


def test_cli_strict_turns_a_loss_into_exit_1(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(docs(ROOTS, split("s", "web", {"web-v1": 1, "web-v2": 2})))
    done = _run(tmp_path, "--to", "consul", "-f", "in.yaml", "--strict", "--report", "r.json")
    assert done.returncode == 1
    report = json.loads((tmp_path / "r.json").read_text())
    found = [f for e in report["entries"] for f in e["findings"] if f["code"] == codes.WEIGHTS_ROUNDED]
    assert found and found[0]["kind"] == "error"
    assert _run(tmp_path, "--to", "consul", "-f", "in.yaml").returncode == 0


def test_cli_explain_code_knows_the_family() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smimesh", "explain-code", codes.PRECEDENCE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "specificity" in done.stdout


def test_cli_usage_error_exit_2(tmp_path: Path) -> None:
    assert _run(tmp_path, "--to", "nginx", "-f", "x.yaml").returncode == 2


def test_one_route_linkerd_overlapping_targets() -> None:
    two = docs(
        POLICY,
        wl("admin", "admin"),
        group("books", "[{name: b, pathRegex: /books}]"),
        group("b", "[{name: b, pathRegex: /b}]"),
        target("t1", "api", ["client"], "[{kind: HTTPRouteGroup, name: books}]"),
        target("t2", "api", ["admin"], "[{kind: HTTPRouteGroup, name: b}]"),
    )
    out = export_yaml(two, "linkerd")
    assert codes.ONE_ROUTE in codes_of(out)


def test_unconditional_target_is_authorized_on_every_route_linkerd() -> None:
    two = docs(
        POLICY,
        wl("admin", "admin"),
        group("books", "[{name: b, pathRegex: /books}]"),
        group("all", "[{name: all, pathRegex: '.*'}]"),
        target("t1", "api", ["client"], "[{kind: HTTPRouteGroup, name: books}]"),
        target("t2", "api", ["admin"], "[{kind: HTTPRouteGroup, name: all}]"),
    )
    out = export_yaml(two, "linkerd")
    assert codes.ONE_ROUTE not in codes_of(out)
    policies = [o for o in out.objects if o["kind"] == "AuthorizationPolicy"]
    by_route: dict[str, set[str]] = {}
    for p in policies:
        by_route.setdefault(p["spec"]["targetRef"]["name"], set()).add(
            p["spec"]["requiredAuthenticationRefs"][0]["name"]
        )
    assert sorted(by_route.values(), key=len) == [{"t2-sources"}, {"t1-sources", "t2-sources"}]


def test_cli_policy_beside_the_routes_and_the_stdout_comment(tmp_path: Path) -> None:
    (tmp_path / "in.yaml").write_text(docs(POLICY, GET_ALL, target("t", "api", ["client"], HTTP_ALL)))
    plain = _run(tmp_path, "--to", "gateway-api", "-f", "in.yaml")
    assert plain.returncode == 0 and plain.stdout.startswith(
        "# smimesh export: 1 TrafficTarget(s) not exported"
    )
    with_policy = _run(tmp_path, "--to", "gateway-api", "--policy", "linkerd", "-f", "in.yaml", "--strict")
    assert with_policy.returncode == 0, with_policy.stderr
    kinds = {o["kind"] for o in yaml.safe_load_all(with_policy.stdout)}
    assert kinds == {"Server", "HTTPRoute", "AuthorizationPolicy", "MeshTLSAuthentication"}
    assert "SM8002" not in with_policy.stderr
    assert _run(tmp_path, "--to", "istio", "--policy", "linkerd", "-f", "in.yaml").returncode == 2


def test_cli_unreadable_input_is_an_error(tmp_path: Path) -> None:
    done = _run(tmp_path, "--to", "istio", "-f", "missing.yaml")
    assert done.returncode == 1 and "SM1001" in done.stderr and "missing.yaml" in done.stderr
    assert _run(tmp_path, "--to", "istio").returncode == 2  # neither -f nor --from-mesh


ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
  - backendRefs: [{name: web-v1, port: 80}]
  - matches: [{headers: [{name: x-v, value: two}]}]
    backendRefs: [{name: web-v2, port: 80}]
"""


def test_input_httproutes_pass_through_or_translate_in_precedence_order() -> None:
    gateway = export_yaml(docs(ROOTS, ROUTE), "gateway-api")
    assert [(o["kind"], o["metadata"]["name"]) for o in gateway.objects] == [("HTTPRoute", "r")]
    istio = export_yaml(docs(ROOTS, ROUTE), "istio")
    (service,) = [o for o in istio.objects if o["kind"] == "VirtualService"]
    routes = service["spec"]["http"]
    assert [r["route"][0]["destination"]["host"].split(".")[0] for r in routes] == ["web-v2", "web-v1"]
    assert routes[0]["match"] == [{"headers": {"x-v": {"exact": "two"}}, "port": 80}]  # no catch-all: 404
    consul = export_yaml(docs(ROOTS, ROUTE), "consul")
    loss = next(d for d in consul.findings if d.code == codes.NO_COUNTERPART)
    assert loss.object.kind == "HTTPRoute" and "404" in loss.message
