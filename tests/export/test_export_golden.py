"""Golden exports: every SMI spec example and the bookstore world, per target, valid against the target's
published CRD schemas (tests/data/upstream/<target>/) and the CEL rules ported in `export/cel.py`.

The spec examples name Services and service accounts they do not define; `export_kit.context_for` adds
a Service and a Workload for each, so every example exports to real objects."""

from __future__ import annotations

from pathlib import Path

import pytest

from smimesh.export import TARGETS
from smimesh.export.cel import problems
from smimesh.export.schemas import SchemaSet
from smimesh.resources.reader import read_paths
from smimesh.testing.bookstore import BOOKSTORE_YAML
from smimesh.testing.export_kit import context_for, export_documents, export_yaml, report_data
from smimesh.testing.golden import Golden
from smimesh.testing.smi_data import smi_examples_dir, with_api_versions

EXAMPLES = sorted(p for p in smi_examples_dir().glob("*.yaml") if not p.name.startswith("metrics."))


def _valid(objects: list[dict], schema: SchemaSet) -> None:
    for obj in objects:
        assert schema.problems(obj) == [], obj
        assert problems(obj) == [], obj


@pytest.mark.parametrize("target", TARGETS)
def test_every_spec_example(target: str, golden: Golden, schemas: dict[str, SchemaSet]) -> None:
    data = {}
    for path in EXAMPLES:
        documents, _ = with_api_versions(path)
        out = export_documents(documents + context_for(documents), target)
        _valid(out.objects, schemas[target])
        assert not [d for d in out.findings if d.code == "SM8301"]
        data[path.stem] = {"objects": out.objects, "report": report_data(out)}
    golden.check(f"examples-{target}", data)


@pytest.mark.parametrize("target", TARGETS)
def test_bookstore_world(target: str, golden: Golden, schemas: dict[str, SchemaSet]) -> None:
    out = export_yaml(BOOKSTORE_YAML, target)
    assert out.objects
    _valid(out.objects, schemas[target])
    golden.check(f"bookstore-{target}", {"objects": out.objects, "report": report_data(out)})


def test_metrics_examples_export_nothing() -> None:
    for path in smi_examples_dir().glob("metrics.*.yaml"):
        documents = read_paths([str(path)]).documents
        assert export_documents(documents, "istio").objects == []


def test_schema_set_catches_a_broken_object(schemas: dict[str, SchemaSet]) -> None:
    broken = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "x"},
        "spec": {"rules": [{"backendRefs": [{"name": "a", "port": "eighty"}]}]},
    }
    assert schemas["gateway-api"].problems(broken)
    assert any(
        "must specify port" in p
        for p in problems({**broken, "spec": {"rules": [{"backendRefs": [{"name": "a"}]}]}})
    )
    assert schemas["istio"].problems({"apiVersion": "x/v1", "kind": "Nope", "metadata": {}})


def test_examples_are_found() -> None:
    assert len(EXAMPLES) > 50 and all(isinstance(p, Path) for p in EXAMPLES)
