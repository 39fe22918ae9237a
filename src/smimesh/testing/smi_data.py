"""Where the upstream data the tests compare with is: `tests/data/upstream/<project>/` in the repository.

SMI's published CRDs and spec examples, and the CRDs and examples of OSM, Flagger, Gateway API, Istio,
Linkerd and Consul, vendored with their provenance and licence (each folder's INDEX.md, and the folder's
README.md). A missing folder is an error, not a skip: tests that compare with the published material must
not pass silently without it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from smimesh.resources.document import Document
from smimesh.resources.reader import read_paths

# src/smimesh/testing/smi_data.py -> the repository root (the test kit runs from a checkout).
UPSTREAM_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "upstream"


def upstream_dir(project: str) -> Path:
    """The vendored data of one upstream project (`smi`, `osm`, `flagger`, `gateway-api`, ...)."""
    path = UPSTREAM_DIR / project
    if not path.is_dir():
        raise FileNotFoundError(f"{path} not found: the test kit runs from a checkout of the repository")
    return path


def smi_data_dir() -> Path:
    return upstream_dir("smi")


def smi_examples_dir() -> Path:
    return smi_data_dir() / "examples"


def smi_crds_dir() -> Path:
    return smi_data_dir() / "crds"


# Most spec examples omit `apiVersion` (INDEX.md); `with_api_versions` supplies it from the file name and
# INDEX.md's compatibility lines.
COMPATIBLE_SPECS = {
    ("access.smi-spec.io", "v1alpha1"): "v1alpha1",
    ("access.smi-spec.io", "v1alpha2"): "v1alpha3",
    ("access.smi-spec.io", "v1alpha3"): "v1alpha4",
    ("access.smi-spec.io", "v1alpha4"): "v1alpha4",
    ("split.smi-spec.io", "v1alpha3"): "v1alpha3",
    ("split.smi-spec.io", "v1alpha4"): "v1alpha4",
}
GROUP_OF_KIND = {
    "TrafficTarget": "access.smi-spec.io",
    "IdentityBinding": "access.smi-spec.io",
    "HTTPRouteGroup": "specs.smi-spec.io",
    "TCPRoute": "specs.smi-spec.io",
    "UDPRoute": "specs.smi-spec.io",
    "TrafficSplit": "split.smi-spec.io",
    "TrafficMetrics": "metrics.smi-spec.io",
    "TrafficMetricsList": "metrics.smi-spec.io",
}


def with_api_versions(path: Path) -> tuple[list[Document], list[str]]:
    """The file's documents with `apiVersion` supplied where missing, and the kinds it was supplied for."""
    group, version = path.name.split("_")[:2]
    read = read_paths([str(path)])
    documents, supplied = [], []
    for document in read.documents:
        kind = document.data.get("kind")
        if "apiVersion" not in document.data and kind in GROUP_OF_KIND:
            kind_group = GROUP_OF_KIND[kind]
            kind_version = version if kind_group == group else COMPATIBLE_SPECS.get((group, version), version)
            document = dataclasses.replace(
                document, data={"apiVersion": f"{kind_group}/{kind_version}", **document.data}
            )
            supplied.append(kind)
        documents.append(document)
    return documents, supplied


def osm_data_dir() -> Path:
    """OSM's published policy CRDs and doc examples (see its INDEX.md)."""
    return upstream_dir("osm")
