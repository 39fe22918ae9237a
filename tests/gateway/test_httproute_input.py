"""Gateway API HTTPRoute (GAMMA) as input: loading and its diagnostics, the model's routes, and requests
followed through the generated Envoy config (precedence by specificity, 404 for unmatched, weights,
a Service routed by both a TrafficSplit and an HTTPRoute)."""

from __future__ import annotations

from smimesh.mesh import MeshModel, proxy_view
from smimesh.mesh.build_routes import path_regex
from smimesh.mesh.model import ServiceKey
from smimesh.resources import load_text
from smimesh.resources.gateway import PathMatch
from smimesh.testing.bookstore import BUYER, bookstore_model
from smimesh.testing.simulator import Outcome, Simulator
from smimesh.xds import generate, names

ROOT, V1, V2 = (
    names.outbound_cluster(ServiceKey("bookstore", n), 80)
    for n in ("bookstore", "bookstore-v1", "bookstore-v2")
)
NO_SPLIT = ["TrafficSplit/bookstore"]


def route(name: str, rules: str, created: str = "2024-01-01T00:00:00Z") -> str:
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: bookstore, creationTimestamp: '{created}'}}
spec:
  parentRefs: [{{group: "", kind: Service, name: bookstore, port: 80}}]
  rules: {rules}
"""


def send(model: MeshModel, path: str = "/", method: str = "GET", **headers: str) -> Outcome:
    view = proxy_view(model, BUYER)
    return Simulator(generate(view)).http(
        view.node.outbound_http_port, "bookstore.bookstore", path, method, headers
    )


def test_path_forms_mean_what_gateway_api_says() -> None:
    import re2

    def full(regex: str, path: str) -> bool:
        return re2.fullmatch(f"(?:{regex}).*", path) is not None if regex else True

    prefix = path_regex(PathMatch(type="PathPrefix", value="/v2/"))
    assert [full(prefix, p) for p in ("/v2", "/v2/", "/v2/x", "/v2x", "/v")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    exact = path_regex(PathMatch(type="Exact", value="/a.b"))
    assert [full(exact, p) for p in ("/a.b", "/axb", "/a.b/")] == [True, False, False]
    regex = path_regex(PathMatch(type="RegularExpression", value="/id/[0-9]+"))
    assert [full(regex, p) for p in ("/id/12", "/id/12/x")] == [True, False]


def test_weighted_route_and_unmatched_404() -> None:
    model = bookstore_model(
        route(
            "r",
            """
  - matches: [{path: {type: PathPrefix, value: /books}}]
    backendRefs: [{name: bookstore-v1, port: 80, weight: 3}, {name: bookstore-v2, port: 80, weight: 1}]
""",
        ),
        replace=NO_SPLIT,
    )
    assert dict(send(model, "/books/1").clusters) == {V1: 3, V2: 1}
    missed = send(model, "/booksX")
    assert missed.status == 404 and "HTTPRoute/bookstore/r" in missed.body


def test_precedence_by_specificity_not_list_order() -> None:
    model = bookstore_model(
        route(
            "r",
            """
  - matches: [{headers: [{name: x-v, value: two}]}]
    backendRefs: [{name: bookstore-v2, port: 80}]
  - matches: [{path: {type: Exact, value: /books}}]
    backendRefs: [{name: bookstore-v1, port: 80}]
  - backendRefs: [{name: bookstore, port: 80}]
""",
        ),
        replace=NO_SPLIT,
    )
    assert dict(send(model, "/books", **{"x-v": "two"}).clusters) == {V1: 1}  # Exact path outranks a header
    assert dict(send(model, "/other", **{"x-v": "two"}).clusters) == {V2: 1}
    assert dict(send(model, "/other").clusters) == {ROOT: 1}  # the rule without matches


def test_older_route_wins_a_tie() -> None:
    older = route("b-older", "[{matches: [{method: GET}], backendRefs: [{name: bookstore-v1, port: 80}]}]")
    newer = route(
        "a-newer",
        "[{matches: [{method: GET}], backendRefs: [{name: bookstore-v2, port: 80}]}]",
        "2024-06-01T00:00:00Z",
    )
    model = bookstore_model(older + "---" + newer, replace=NO_SPLIT)
    assert dict(send(model, "/").clusters) == {V1: 1}


def test_split_and_route_on_one_port_route_wins_with_a_diagnostic() -> None:
    model = bookstore_model(route("r", "[{backendRefs: [{name: bookstore-v2, port: 80}]}]"))
    assert dict(send(model, "/books").clusters) == {V2: 1}
    (diag,) = [d for d in model.diagnostics if d.code == "SM6022"]
    assert diag.object.kind == "TrafficSplit" and "HTTPRoute/bookstore/r" in diag.message


def test_missing_backend_is_left_out_and_an_empty_rule_answers_503() -> None:
    model = bookstore_model(
        route(
            "r",
            """
  - matches: [{path: {type: Exact, value: /gone}}]
    backendRefs: [{name: nowhere, port: 80}]
  - backendRefs: [{name: bookstore-v1, port: 80}, {name: bookstore-v2, port: 81}]
""",
        ),
        replace=NO_SPLIT,
    )
    assert send(model, "/gone").status == 503
    assert dict(send(model, "/x").clusters) == {V1: 1}
    assert sorted(d.code for d in model.diagnostics if d.code.startswith("SM602")) == ["SM6021", "SM6021"]


def test_loading_reports_what_smimesh_cannot_do() -> None:
    text = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: "/a//b"}, headers: [{name: A, value: x}, {name: a, value: y}]}]
    backendRefs: [{name: web}, {group: "", kind: Service, name: other, namespace: elsewhere, port: 80}]
    filters: [{type: RequestHeaderModifier}]
"""
    result = load_text(text, "r.yaml")
    assert {d.code for d in result.diagnostics} == {"SM2005"}  # filters: unknown field, refused
    result = load_text(text.replace("    filters: [{type: RequestHeaderModifier}]\n", ""), "r.yaml")
    got = sorted((d.code, d.path) for d in result.diagnostics)
    assert got == [
        ("SM3060", "spec.parentRefs[0]"),
        ("SM3062", "spec.rules[0].backendRefs[0]"),
        ("SM3062", "spec.rules[0].backendRefs[1].namespace"),
        ("SM3063", "spec.rules[0].matches[0].headers[1]"),
        ("SM3063", "spec.rules[0].matches[0].path.value"),
    ]
    assert all(d.location.line for d in result.diagnostics)


def test_published_gamma_examples_load() -> None:
    from smimesh.testing.smi_data import upstream_dir

    shared = upstream_dir("gateway-api")
    for name in ("example_mesh-httproute-weight.yaml", "example_mesh-httproute-matching.yaml"):
        result = load_text((shared / name).read_text(), name)
        assert result.ok and [o.key.kind for o in result.objects] == ["HTTPRoute"], result.diagnostics
