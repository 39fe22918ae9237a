"""The generated CRDs match the published SMI CRDs (tests/data/upstream/smi/crds) field by field — types,
required lists, enums — except for the deliberate differences in `DELIBERATE`, each with its reason. A
difference that is not in the table fails, and so does a table entry that is no longer a difference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from smimesh.resources import crd, registry
from smimesh.testing.smi_data import smi_crds_dir

CRDS = smi_crds_dir()

Fact = tuple[str, str, Any]  # (field path, aspect, value)

# Reasons, then the (kind, version, field path, aspect) entries each one explains.
NOT_STRUCTURAL = (
    "the published apiextensions v1beta1 schema leaves `type` out here; v1 CRDs must be structural (every "
    "node typed), so smimesh writes `type: object`"
)
SPEC_REQUIRED = (
    "an object without `spec` configures nothing; the model requires it (the published root has no "
    "required list)"
)
SERVICE_ACCOUNT_ONLY = (
    "only `ServiceAccount` identities exist in released SMI; the published schema takes any string and "
    "leaves the check to implementations (SPEC-DIGEST §8 A7); smimesh rejects other kinds at the schema"
)
PORT_INTEGER = "a port is a whole number 1..65535 (Go `int`); the published `number` would let 80.5 through"
WEIGHT_INTEGER = (
    "SPEC-DIGEST §4.3: weights are whole numbers (Go `int`); the published `number` lets 1.5 through"
)
WEIGHT_QUANTITY = (
    "v1alpha1 weights are Kubernetes quantities (`1`, `500m`); the published (copied) schema says `number`, "
    "which refuses `500m` — SPEC-DIGEST §7 recommends x-kubernetes-int-or-string"
)
HEADERS_EITHER_LAYOUT = (
    "`headers` is accepted as a list of one-entry maps (published) or a plain map (spec text since 2021, "
    "SPEC-DIGEST §2.6/§7); only x-kubernetes-preserve-unknown-fields lets both reach smimesh, which "
    "normalises them"
)
NO_HEADERS_IN_V1ALPHA1 = (
    "HTTPMatch v1alpha1 has no headers (spec text and the Go type); the later multi-version CRD lists "
    "them by copying v1alpha2's schema"
)
NO_MATCHES_BEFORE_V1ALPHA3 = (
    "`spec.matches` exists only from split v1alpha3 (SPEC-DIGEST §4.4/§6.4); the published v1alpha1/v1alpha2 "
    "schemas inside the later multi-version CRDs copy it from v1alpha3"
)
PORT_MATCH_NAME = (
    "`matches.name` is in the Go type (SPEC-DIGEST §2.5); smimesh tolerates it instead of pruning it"
)


def _entries(
    reason: str, kind: str, versions: str, path: str, *aspects: str
) -> dict[tuple[str, str, str, str], str]:
    return {
        (kind, version, path, aspect): reason
        for version in versions.split()
        for aspect in aspects or ("type",)
    }


SPLIT_MATCHES = [
    (".spec.matches", "type"),
    (".spec.matches[]", "type"),
    (".spec.matches[]", "required"),
    (".spec.matches[].kind", "type"),
    (".spec.matches[].kind", "enum"),
    (".spec.matches[].name", "type"),
]
HEADERS = ["headers", "headers[]", "headers[]{}"]

# (kind, version, field path, aspect) -> why smimesh differs from the published schema.
DELIBERATE: dict[tuple[str, str, str, str], str] = {
    **_entries(NOT_STRUCTURAL, "TrafficTarget", "v1alpha1 v1alpha2", "."),
    **_entries(NOT_STRUCTURAL, "TrafficTarget", "v1alpha2", ".spec"),
    **_entries(NOT_STRUCTURAL, "HTTPRouteGroup", "v1alpha1 v1alpha2 v1alpha3", "."),
    **_entries(NOT_STRUCTURAL, "HTTPRouteGroup", "v1alpha3", ".spec"),
    **_entries(NOT_STRUCTURAL, "TrafficSplit", "v1alpha1 v1alpha2 v1alpha3", "."),
    **_entries(SPEC_REQUIRED, "TrafficTarget", "v1alpha2 v1alpha3", ".", "required"),
    **_entries(SPEC_REQUIRED, "HTTPRouteGroup", "v1alpha3 v1alpha4", ".", "required"),
    **_entries(SPEC_REQUIRED, "TCPRoute", "v1alpha4", ".", "required"),
    **_entries(SPEC_REQUIRED, "UDPRoute", "v1alpha4", ".", "required"),
    **_entries(SPEC_REQUIRED, "TrafficSplit", "v1alpha1 v1alpha2 v1alpha3 v1alpha4", ".", "required"),
    **_entries(SERVICE_ACCOUNT_ONLY, "TrafficTarget", "v1alpha1", ".destination.kind", "enum"),
    **_entries(SERVICE_ACCOUNT_ONLY, "TrafficTarget", "v1alpha1", ".sources[].kind", "enum"),
    **_entries(SERVICE_ACCOUNT_ONLY, "TrafficTarget", "v1alpha2 v1alpha3", ".spec.destination.kind", "enum"),
    **_entries(SERVICE_ACCOUNT_ONLY, "TrafficTarget", "v1alpha2 v1alpha3", ".spec.sources[].kind", "enum"),
    **_entries(PORT_INTEGER, "TrafficTarget", "v1alpha1", ".destination.port"),
    **_entries(PORT_INTEGER, "TrafficTarget", "v1alpha2", ".spec.destination.port"),
    **_entries(WEIGHT_QUANTITY, "TrafficSplit", "v1alpha1", ".spec.backends[].weight"),
    **_entries(WEIGHT_INTEGER, "TrafficSplit", "v1alpha2 v1alpha3 v1alpha4", ".spec.backends[].weight"),
    **{
        ("TrafficSplit", v, path, aspect): NO_MATCHES_BEFORE_V1ALPHA3
        for v in ("v1alpha1", "v1alpha2")
        for path, aspect in SPLIT_MATCHES
    },
    **{("HTTPRouteGroup", "v1alpha1", f".matches[].{h}", "type"): NO_HEADERS_IN_V1ALPHA1 for h in HEADERS},
    **{("HTTPRouteGroup", "v1alpha2", f".matches[].{h}", "type"): HEADERS_EITHER_LAYOUT for h in HEADERS},
    **{
        ("HTTPRouteGroup", v, f".spec.matches[].{h}", "type"): HEADERS_EITHER_LAYOUT
        for v in ("v1alpha3", "v1alpha4")
        for h in HEADERS
    },
    **_entries(PORT_MATCH_NAME, "TCPRoute", "v1alpha4", ".spec.matches.name"),
    **_entries(PORT_MATCH_NAME, "UDPRoute", "v1alpha4", ".spec.matches.name"),
}

# Versions for which no published CRD ever carried a schema: nothing to compare.
UNPUBLISHED = {("TCPRoute", "v1alpha1"), ("TCPRoute", "v1alpha2"), ("TCPRoute", "v1alpha3")}


def published_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, version) -> the published schema; the file where the version is stored wins (INDEX.md)."""
    found: dict[tuple[str, str], tuple[bool, dict[str, Any]]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            spec = doc["spec"]
            for version in spec.get("versions") or [{"name": spec["version"], "storage": True}]:
                schema = (version.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")
                key = (spec["names"]["kind"], version["name"])
                stored = bool(version.get("storage"))
                if schema and (key not in found or (stored and not found[key][0])):
                    found[key] = (stored, schema)
    return {key: schema for key, (_stored, schema) in found.items()}


PUBLISHED = published_schemas()


def facts(schema: dict[str, Any], path: str = "") -> set[Fact]:
    """What the comparison looks at: each field's type, every required list and every enum."""
    out: set[Fact] = set()
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        kind = "int-or-string"
    elif schema.get("x-kubernetes-preserve-unknown-fields"):
        kind = "any"
    out.add((path or ".", "type", kind))
    if schema.get("required"):
        out.add((path or ".", "required", tuple(sorted(schema["required"]))))
    if schema.get("enum"):
        out.add((path or ".", "enum", tuple(sorted(schema["enum"]))))
    for name, sub in schema.get("properties", {}).items():
        if path or name not in ("apiVersion", "kind", "metadata"):  # Kubernetes owns these three
            out |= facts(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        out |= facts(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out |= facts(schema["additionalProperties"], f"{path}{{}}")
    return out


def generated_schema(kind: str, version: str) -> dict[str, Any]:
    model = registry.lookup(f"{registry.KINDS[kind].group}/{version}", kind)
    assert model is not None
    return crd.openapi_schema(model)


def differences(kind: str, version: str) -> set[tuple[str, str, str, str]]:
    ours, theirs = facts(generated_schema(kind, version)), facts(PUBLISHED[(kind, version)])
    return {(kind, version, path, aspect) for path, aspect, _value in ours ^ theirs}


SERVED = [(kind, api.rpartition("/")[2]) for kind in crd.smi_kinds() for api in registry.versions_of(kind)]


@pytest.mark.parametrize(("kind", "version"), SERVED, ids=[f"{k}-{v}" for k, v in SERVED])
def test_generated_schema_matches_the_published_one(kind: str, version: str) -> None:
    if (kind, version) in UNPUBLISHED:
        assert (kind, version) not in PUBLISHED
        return
    found = differences(kind, version)
    listed = {key for key in DELIBERATE if key[:2] == (kind, version)}
    assert found - listed == set(), "differences not in DELIBERATE"
    assert listed - found == set(), "DELIBERATE entries that are no longer differences"


def test_every_published_kind_and_version_is_served() -> None:
    assert set(PUBLISHED) <= set(SERVED)


@pytest.mark.parametrize("kind", crd.smi_kinds())
def test_crd_serves_every_version_and_stores_the_hub(kind: str) -> None:
    generated = crd.crd_for(kind)
    spec = generated["spec"]
    info = registry.KINDS[kind]
    assert generated["metadata"]["name"] == f"{info.plural}.{info.group}"
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": info.plural,
        "singular": kind.lower(),
        "shortNames": list(info.short_names),
    }
    versions = spec["versions"]
    assert [v["name"] for v in versions] == [a.rpartition("/")[2] for a in registry.versions_of(kind)]
    assert all(v["served"] for v in versions)
    assert [v["name"] for v in versions if v["storage"]] == [info.hub.API_VERSION.rpartition("/")[2]]
    assert spec["conversion"]["strategy"] == "Webhook"
    assert spec["scope"] == "Namespaced"


def test_published_names_and_printer_columns() -> None:
    expected = {"TrafficTarget": ["tt"], "HTTPRouteGroup": ["htr"], "TCPRoute": ["tr"], "UDPRoute": ["ur"]}
    for kind, short in expected.items():
        assert crd.crd_for(kind)["spec"]["names"]["shortNames"] == short
    split = crd.crd_for("TrafficSplit")["spec"]
    assert split["names"]["shortNames"] == ["ts"]
    for version in split["versions"]:
        assert version["additionalPrinterColumns"] == [
            {"name": "Service", "type": "string", "jsonPath": ".spec.service"}
        ]


def test_schemas_are_structural() -> None:
    """No $ref, anyOf/oneOf, or `additionalProperties` next to properties: the API server refuses them."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            assert not {"$ref", "anyOf", "oneOf", "allOf", "const", "title"} & set(node)
            assert not ("properties" in node and "additionalProperties" in node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for generated in crd.all_crds():
        walk(generated)


def test_yaml_output_parses_back() -> None:
    text = crd.to_yaml(crd.all_crds())
    docs = list(yaml.safe_load_all(text))
    assert [d["spec"]["names"]["kind"] for d in docs] == crd.smi_kinds()


def test_cli_prints_and_writes_the_crds(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from smimesh.cli.main import cli

    printed = CliRunner().invoke(cli, ["crds"])
    assert printed.exit_code == 0
    assert len(list(yaml.safe_load_all(printed.output))) == len(crd.smi_kinds())
    written = CliRunner().invoke(cli, ["crds", "-o", str(tmp_path / "out")])
    assert written.exit_code == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "trafficsplits.split.smi-spec.io.yaml" in files and len(files) == len(crd.smi_kinds())
    blocked = tmp_path / "file"
    blocked.write_text("")
    refused = CliRunner().invoke(cli, ["crds", "-o", str(blocked / "sub")])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
