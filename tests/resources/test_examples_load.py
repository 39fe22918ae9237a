"""Every SMI spec example (`tests/data/upstream/smi/examples`) loads, or yields the diagnostic its defect
deserves.

Most examples omit `apiVersion` (INDEX.md): loaded as written, each such document must produce SM2001
with a hint; the test then supplies the apiVersion from the file name and INDEX.md's compatibility lines
(access v1alpha1 ↔ specs v1alpha1, access v1alpha2 ↔ specs v1alpha3, access v1alpha3/v1alpha4 ↔ specs
v1alpha4, split v1alpha3 ↔ specs v1alpha3, split v1alpha4 ↔ specs v1alpha4) and loads again.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

from smimesh.resources import load_documents, load_paths, load_text, registry
from smimesh.resources.document import Document
from smimesh.resources.other_versions import fitting_versions
from smimesh.resources.reader import read_paths
from smimesh.testing.smi_data import smi_examples_dir, with_api_versions

EXAMPLES = smi_examples_dir()
FILES = sorted(EXAMPLES.glob("*.yaml"))

# INDEX.md's defective examples → the (code, field path) each must produce; every other file loads
# with no diagnostic at all. Why each one:
DEFECTS: dict[str, set[tuple[str, str]]] = {
    # draft IdentityBinding: never released, no CRD
    "access.smi-spec.io_v1alpha4_01_identitybinding.yaml": {("SM2002", "kind")},
    # draft access v1alpha4 TrafficTarget: not a served version
    "access.smi-spec.io_v1alpha4_03_traffictarget.yaml": {("SM2003", "apiVersion")},
    "access.smi-spec.io_v1alpha4_04_tcproute-httproutegroup-traffictarget.yaml": {("SM2003", "apiVersion")},
    "access.smi-spec.io_v1alpha4_05_tcproute-udproute-traffictarget.yaml": {("SM2003", "apiVersion")},
    # `apiVersion: v1alpha1` without a group
    "specs.smi-spec.io_v1alpha1_02_httproutegroup.yaml": {("SM2003", "apiVersion")},
    # output types of the metrics API and Kubernetes kinds smimesh does not read
    **{
        f.name: {("SM2002", "kind")}
        for f in FILES
        if f.name.startswith("metrics.")
        and any(k in f.name for k in ("trafficmetrics", "apiservice", "role"))
    },
    # fragments without apiVersion or kind
    **{f.name: {("SM2001", "apiVersion")} for f in FILES if "fragment" in f.name},
    # a literal `...` line is a YAML document-end marker: the text after it is not YAML
    "metrics.smi-spec.io_v1alpha1_09_apiresourcelist.yaml": {("SM1005", "")},
    # self-referential splits (the spec's own counter-examples): a warning, the split still loads
    **{
        f"split.smi-spec.io_{name}_trafficsplit.yaml": {("SM3032", "spec.backends[1].service")}
        for name in ("v1alpha1_07", "v1alpha2_07", "v1alpha3_08", "v1alpha4_08")
    },
    # the embedded HTTPRouteGroup has the pre-v1alpha3 top-level `matches` in a specs v1alpha3+ document
    "split.smi-spec.io_v1alpha3_02_trafficsplit-httproutegroup.yaml": {
        ("SM2004", "spec"),
        ("SM2009", "matches"),
    },
    "split.smi-spec.io_v1alpha4_02_trafficsplit-httproutegroup.yaml": {
        ("SM2004", "spec"),
        ("SM2009", "matches"),
    },
}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_missing_api_version_is_reported_with_a_hint(path: Path) -> None:
    _, supplied = with_api_versions(path)
    missing = [d for d in load_paths([str(path)], references=False).diagnostics if d.code == "SM2001"]
    assert len(missing) >= len(supplied)
    for diagnostic in missing:
        assert diagnostic.path == "apiVersion" and diagnostic.location.line is not None
        if diagnostic.object.kind in (
            "TrafficSplit",
            "TrafficTarget",
            "HTTPRouteGroup",
            "TCPRoute",
            "UDPRoute",
        ):
            assert "apiVersion: " in diagnostic.hint and ".smi-spec.io/" in diagnostic.hint


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_example_loads_or_reports_its_defect(path: Path) -> None:
    documents, _ = with_api_versions(path)
    read = read_paths([str(path)])
    result = load_documents(documents, references=False)
    got = {(d.code, d.path) for d in [*read.diagnostics, *result.diagnostics]}
    assert got == DEFECTS.get(path.name, set())
    if not any(code.startswith(("SM1", "SM2")) for code, _ in got):
        assert len(result.objects) == len(documents)


def test_every_defect_in_the_table_is_a_real_file() -> None:
    assert set(DEFECTS) <= {f.name for f in FILES}
    assert len(DEFECTS) >= 20


@pytest.mark.parametrize(
    "name",
    [
        "access.smi-spec.io_v1alpha1_03_httproutegroup-traffictarget.yaml",
        "access.smi-spec.io_v1alpha2_03_httproutegroup-traffictarget.yaml",
        "access.smi-spec.io_v1alpha3_03_tcproute-httproutegroup-traffictarget.yaml",
        "access.smi-spec.io_v1alpha3_04_tcproute-udproute-traffictarget.yaml",
    ],
)
def test_self_contained_access_examples_resolve_their_references(name: str) -> None:
    documents, _ = with_api_versions(EXAMPLES / name)
    result = load_documents(documents)
    assert result.diagnostics == []
    assert {o.key.kind for o in result.objects} >= {"TrafficTarget"}


def test_split_examples_against_their_services_flag_the_bad_port_layout() -> None:
    """The spec's "invalid port layout": blue-birds exposes 1024, not the root's 8080 (SM4006)."""
    split = """
        apiVersion: split.smi-spec.io/v1alpha4
        kind: TrafficSplit
        metadata: {name: birds}
        spec:
          service: birds
          backends: [{service: blue-birds, weight: 50}, {service: green-birds, weight: 50}]
    """
    services, _ = with_api_versions(EXAMPLES / "split.smi-spec.io_v1alpha4_04_service.yaml")
    split_document = load_text(textwrap.dedent(split), "split.yaml").objects[0].document
    result = load_documents([*services, split_document])
    lacking = {(d.code, d.value) for d in result.diagnostics}
    assert ("SM4006", "blue-birds") in lacking
    assert ("SM4006", "green-birds") not in lacking


HINTED = re.compile(r"add `apiVersion: ([^`]+)`")


def documents_without_api_version() -> list[tuple[str, Document]]:
    found = []
    for path in FILES:
        for document in read_paths([str(path)]).documents:
            data = document.data
            if "apiVersion" not in data and data.get("kind") in registry.KINDS:
                found.append((f"{path.stem}#{document.index}", document))
    return found


WITHOUT_API_VERSION = documents_without_api_version()


@pytest.mark.parametrize(
    "document", [d for _, d in WITHOUT_API_VERSION], ids=[n for n, _ in WITHOUT_API_VERSION]
)
def test_the_hinted_api_version_is_one_the_document_fits(document: Document) -> None:
    """The SM2001 hint derives the version from the kind and the layout: adding it makes the document load."""
    (missing,) = [d for d in load_documents([document], references=False).diagnostics if d.code == "SM2001"]
    hinted = HINTED.search(missing.hint)
    assert hinted, missing.hint
    if "(the newest;" in missing.hint:  # the fallback: no version fits (the draft access v1alpha4)
        assert not fitting_versions(document.data, document.data["kind"])
        return
    fixed = dataclasses.replace(document, data={"apiVersion": hinted[1], **document.data})
    result = load_documents([fixed], references=False)
    schema = [d for d in result.diagnostics if d.code.startswith("SM2")]
    assert not schema, (missing.hint, schema)


def test_the_hint_names_the_only_fitting_version_or_every_fitting_one() -> None:
    hints = {
        name: d.hint
        for name, doc in WITHOUT_API_VERSION
        for d in load_documents([doc]).diagnostics
        if d.code == "SM2001"
    }
    target = hints["access.smi-spec.io_v1alpha1_02_traffictarget#0"]
    assert "access.smi-spec.io/v1alpha1`: the only version of TrafficTarget" in target, target
    routes = hints["specs.smi-spec.io_v1alpha2_02_httproutegroup#0"]
    assert "specs.smi-spec.io/v1alpha2`" in routes and "fits: v1alpha1, v1alpha2)" in routes, routes
