"""Loading: decode → hub → checks, with every problem as a located diagnostic and objects kept apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from smimesh.diagnostics import Location
from smimesh.resources import InputSnapshot, ResourceKey, load_paths, validate_references
from smimesh.resources import load as load_module
from smimesh.resources.core import Service
from smimesh.resources.split import TrafficSplit

ROUTES = """
    apiVersion: specs.smi-spec.io/v1alpha4
    kind: HTTPRouteGroup
    metadata: {name: routes, namespace: shop}
    spec:
      matches:
      - name: api
        pathRegx: /api
        methods: [GET]
"""


def one(result, code):  # type: ignore[no-untyped-def]
    found = [d for d in result.diagnostics if d.code == code]
    assert len(found) == 1, result.diagnostics
    return found[0]


def test_unknown_field_names_path_line_value_and_suggestion(load) -> None:  # type: ignore[no-untyped-def]
    d = one(load(ROUTES, "routes.yaml"), "SM2005")
    assert (d.path, d.location.file, d.location.line, d.location.document) == (
        "spec.matches[0].pathRegx",
        "routes.yaml",
        7,
        0,
    )
    assert d.value == "/api" and "did you mean `pathRegex`?" in d.hint
    assert "pathRegex" in d.expected and str(d.object) == "HTTPRouteGroup/shop/routes"


def test_wrong_type_says_what_was_expected_and_how_to_fix(load) -> None:  # type: ignore[no-untyped-def]
    d = one(
        load("apiVersion: v1\nkind: Service\nmetadata: {name: w}\nspec: {ports: [{port: '80'}]}\n"), "SM2006"
    )
    assert (d.path, d.value, d.expected, d.hint) == (
        "spec.ports[0].port",
        "80",
        "an integer",
        "write the number without quotes",
    )


def test_union_alternatives_become_one_diagnostic(load) -> None:  # type: ignore[no-untyped-def]
    result = load(
        "apiVersion: v1\nkind: Service\nmetadata: {name: w}\nspec: {ports: [{port: 80, targetPort: [1]}]}\n"
    )
    d = one(result, "SM2006")
    assert d.path == "spec.ports[0].targetPort" and d.expected == "an integer or text"


def test_enum_lists_the_allowed_values(load) -> None:  # type: ignore[no-untyped-def]
    text = ROUTES.replace("pathRegx", "pathRegex").replace("[GET]", "[GOT]")
    d = one(load(text), "SM2007")
    assert d.path == "spec.matches[0].methods[0]" and "'GET'" in d.expected and d.value == "GOT"


def test_unknown_kind_and_version_hints(load) -> None:  # type: ignore[no-untyped-def]
    kind = one(
        load("apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplitt\nmetadata: {name: a}\n"), "SM2002"
    )
    assert kind.hint == "did you mean `TrafficSplit`?" and kind.path == "kind"
    version = one(
        load("apiVersion: split.smi-spec.io/v1alpha5\nkind: TrafficSplit\nmetadata: {name: a}\n"), "SM2003"
    )
    assert "split.smi-spec.io/v1alpha4" in version.expected and "did you mean" in version.hint
    metrics = one(load("apiVersion: metrics.smi-spec.io/v1alpha1\nkind: TrafficMetrics\n"), "SM2002")
    assert "metrics API" in metrics.hint


def test_missing_api_version_names_the_likely_one(load) -> None:  # type: ignore[no-untyped-def]
    d = one(load("kind: TrafficTarget\nmetadata: {name: a}\n"), "SM2001")
    assert d.path == "apiVersion" and "`apiVersion: access.smi-spec.io/v1alpha3`" in d.hint
    assert "access.smi-spec.io/v1alpha1" in d.hint


def test_one_bad_document_never_hides_the_others(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: v1
        kind: Service
        metadata: {name: ok}
        spec: {ports: [{port: 80}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: Bad_Name}
        spec: {ports: [{port: 80}]}
        ---
        this: [is broken
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: also-ok}
        spec: {ports: [{port: 0}]}
    """
    result = load(text)
    assert [d.code for d in result.diagnostics] == ["SM3001", "SM1005", "SM3020"]
    assert [o.key.name for o in result.objects] == ["ok"]
    assert [d.location.document for d in result.diagnostics] == [1, 2, 3]


def test_duplicates_are_reported_with_both_locations(tmp_path: Path) -> None:
    body = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec: {ports: [{port: 80}]}\n"
    (tmp_path / "a.yaml").write_text(body)
    (tmp_path / "b.yaml").write_text("# copy\n" + body)
    result = load_paths([str(tmp_path)])
    d = one(result, "SM1013")
    assert d.location == Location(str(tmp_path / "b.yaml"), 5, 0)
    assert f"{tmp_path / 'a.yaml'}:4" in d.message
    assert [o.location.file for o in result.objects] == [str(tmp_path / "a.yaml")]


def test_older_versions_load_to_the_hub_and_keep_the_original(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: split.smi-spec.io/v1alpha1
        kind: TrafficSplit
        metadata: {name: canary, namespace: shop}
        spec:
          service: web
          backends: [{service: web-v1, weight: 1}, {service: web-v2, weight: 500m}]
    """
    (obj,) = load(text, references=False).objects
    assert isinstance(obj.resource, TrafficSplit) and obj.original.API_VERSION == "split.smi-spec.io/v1alpha1"
    assert [b.weight for b in obj.resource.spec.backends] == [1000, 500]
    assert obj.key == ResourceKey("TrafficSplit", "shop", "canary") and obj.location.line == 1


def test_warnings_keep_the_object_errors_drop_it(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: split.smi-spec.io/v1alpha4
        kind: TrafficSplit
        metadata: {name: canary}
        spec:
          service: web
          backends: [{service: web, weight: 1}]
    """
    result = load(text, references=False)
    assert [d.code for d in result.diagnostics] == ["SM3032"] and result.ok and len(result.objects) == 1


def test_an_unexpected_failure_is_contained_to_its_document(load, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    real = load_module.validate_object

    def explode(document, resource):  # type: ignore[no-untyped-def]
        if resource.metadata.name == "boom":
            raise RuntimeError("bug")
        return real(document, resource)

    monkeypatch.setattr(load_module, "validate_object", explode)
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: boom}\nspec: {}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: fine}\nspec: {}\n"
    )
    result = load(text)
    assert [d.code for d in result.diagnostics] == ["SM1900"]
    assert [o.key.name for o in result.objects] == ["fine"]


def test_snapshot_api(load) -> None:  # type: ignore[no-untyped-def]
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {}\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n"
    )
    result = load(text)
    snapshot = InputSnapshot.from_objects(result.objects)
    assert [s.metadata.name for s in snapshot.of_kind(Service)] == ["a", "b"]
    key = ResourceKey("Service", "default", "b")
    assert snapshot.get(key) is not None and key in snapshot and len(snapshot) == 2
    assert snapshot.location(key).line == 1 and snapshot.find(Service, "default", "a") is not None
    assert snapshot == result.snapshot() and hash(snapshot) == hash(result.snapshot())
    smaller = snapshot.without([key])
    assert len(smaller) == 1 and smaller != snapshot
    assert smaller.with_resources([snapshot.get(key)]) == snapshot  # type: ignore[list-item]


def test_references_work_on_any_snapshot_with_hub_paths(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: access.smi-spec.io/v1alpha1
        kind: TrafficTarget
        metadata: {name: allow}
        destination: {kind: ServiceAccount, name: server}
        specs: [{kind: TCPRoute, name: tcp}]
        sources: [{kind: ServiceAccount, name: client}]
    """
    result = load(text)
    assert [(d.code, d.path, d.location.line) for d in result.diagnostics] == [("SM4001", "specs[0].name", 5)]
    plain = validate_references(InputSnapshot.from_resources(o.resource for o in result.objects))
    assert [(d.code, d.path) for d in plain] == [("SM4001", "spec.rules[0].name")]


def test_a_field_of_another_version_names_that_version(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: access.smi-spec.io/v1alpha3
        kind: TrafficTarget
        metadata: {name: allow}
        spec:
          destination: {kind: ServiceAccount, name: server, port: 8080}
          rules: [{kind: TCPRoute, name: tcp}]
          sources: [{kind: ServiceAccount, name: client}]
    """
    result = load(text, references=False)
    d = one(result, "SM2009")
    assert d.severity.value == "warning" and d.path == "spec.destination.port" and d.value == "8080"
    assert "belongs to access.smi-spec.io/v1alpha2" in d.message and "every port" in d.message
    assert "apiVersion: access.smi-spec.io/v1alpha2" in d.hint
    assert result.ok and [o.key.name for o in result.objects] == ["allow"]  # ignored, not refused
    assert result.objects[0].resource.legacy_destination_port is None


def test_a_typo_next_to_a_field_of_another_version_stays_an_error(load) -> None:  # type: ignore[no-untyped-def]
    text = """
        apiVersion: access.smi-spec.io/v1alpha3
        kind: TrafficTarget
        metadata: {name: allow}
        spec:
          destination: {kind: ServiceAccount, name: server, port: 8080, namespce: default}
          rules: [{kind: TCPRoute, name: tcp}]
          sources: [{kind: ServiceAccount, name: client}]
    """
    result = load(text, references=False)
    assert one(result, "SM2009").path == "spec.destination.port"
    typo = one(result, "SM2005")
    assert typo.path == "spec.destination.namespce" and typo.hint == "did you mean `namespace`?"
    assert not result.objects


def test_json_from_stdin_or_the_api_is_read_as_json(load) -> None:  # type: ignore[no-untyped-def]
    text = (
        '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},\n'
        '"spec": {"ports": [{"port": 8e1}]}}'
    )
    d = one(load(text, "<api>"), "SM2006")
    assert d.value == "80.0"  # JSON's 8e1 is a number (YAML 1.1 would read the text "8e1")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("spec: {service: web, backends: []}", "TrafficSplit"),
        ("destination: {kind: ServiceAccount, name: a}", "TrafficTarget"),
        ("spec: {matches: [{name: a}]}", "HTTPRouteGroup"),
        ("spec: {matches: {ports: [80]}}", "TCPRoute"),
        ("spec: {command: [x]}", "Workload"),
    ],
)
def test_a_document_without_kind_is_recognised_by_its_shape(load, body: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    d = one(load(f"metadata: {{name: x}}\n{body}\n"), "SM2001")
    assert f"this looks like a {kind}" in d.hint and f"kind: {kind}" in d.hint


@pytest.mark.parametrize("suffix", [".shop", ".shop.svc", ".shop.svc.cluster.local"])
def test_osm_qualified_split_services_resolve_in_the_split_namespace(load, suffix: str) -> None:  # type: ignore[no-untyped-def]
    text = f"""
        apiVersion: split.smi-spec.io/v1alpha2
        kind: TrafficSplit
        metadata: {{name: canary, namespace: shop}}
        spec:
          service: web{suffix}
          backends: [{{service: web-v1{suffix}, weight: 1}}, {{service: web-v2, weight: 0}}]
    """ + "".join(
        f"""
        ---
        apiVersion: v1
        kind: Service
        metadata: {{name: {name}, namespace: shop}}
        spec: {{ports: [{{port: 80}}]}}
        """
        for name in ("web", "web-v1", "web-v2")
    )
    result = load(text)
    assert result.diagnostics == [] and len(result.objects) == 4
    (split,) = [o.resource for o in result.objects if o.key.kind == "TrafficSplit"]
    assert split.spec.service == f"web{suffix}" and split.root == "web"  # kept as written, read as `web`


def test_a_split_service_of_another_namespace_is_refused_with_the_field(load) -> None:  # type: ignore[no-untyped-def]
    result = load(
        """
        apiVersion: split.smi-spec.io/v1alpha2
        kind: TrafficSplit
        metadata: {name: canary, namespace: shop}
        spec:
          service: web.bookstore.svc.cluster.local
          backends: [{service: web-v1, weight: 1}]
        """,
        references=False,
    )
    d = one(result, "SM3034")
    assert d.path == "spec.service" and d.value == "web.bookstore.svc.cluster.local" and d.location.line == 5
    assert "'bookstore'" in d.message and "'shop'" in d.message
    assert d.expected == "a Service of namespace 'shop': 'web' or web.shop"
    assert "create the TrafficSplit in namespace 'bookstore'" in d.hint
    assert not result.objects
