"""Helpers shared by the export tests: export YAML text, read the report as plain data."""

from __future__ import annotations

from typing import Any

from smimesh.export import Output, export, is_pod_document, pod_group_of
from smimesh.resources import load_documents
from smimesh.resources.document import Document
from smimesh.resources.reader import read_text


def export_documents(documents: list[Document], target: str) -> Output:
    pods = [g for d in documents if is_pod_document(d.data) and (g := pod_group_of(d.data))]
    loaded = load_documents([d for d in documents if not is_pod_document(d.data)], references=False)
    return export(loaded.snapshot(), target, pods)


def export_yaml(text: str, target: str) -> Output:
    return export_documents(read_text(text, "<test>").documents, target)


def codes_of(out: Output) -> list[str]:
    return sorted(d.code for d in out.findings)


def report_data(out: Output) -> list[dict[str, Any]]:
    """The report without file locations (goldens must not depend on where the test runs)."""
    return [
        {k: v for k, v in e.to_dict().items() if k != "location"}
        for e in out.entries()
        if e.produced or e.findings
    ]


def hrg(name: str, matches: str, namespace: str = "ns") -> str:
    """An HTTPRouteGroup document; `matches` is its YAML flow list."""
    return (
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {{matches: {matches}}}\n"
    )


def tt(name: str, dest: str, sources: list[str], rules: str, namespace: str = "ns") -> str:
    """A TrafficTarget document from accounts of `namespace`; `rules` is its YAML flow list."""
    subjects = ", ".join(f"{{kind: ServiceAccount, name: {s}}}" for s in sources)
    return (
        "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{destination: {{kind: ServiceAccount, name: {dest}}}, sources: [{subjects}],"
        f" rules: {rules}}}\n"
    )
