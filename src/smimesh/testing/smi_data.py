"""Where the SMI specification data (published CRDs and spec examples) is: `shared/smi/` beside the repo.

The project's clone and `shared/` sit side by side (on developer machines and in CI); an explicit
`SMIMESH_SMI_DATA` overrides. A missing folder is an error, not a skip: tests that compare with the
published SMI material must not pass silently without it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from smimesh.resources.document import Document
from smimesh.resources.reader import read_paths

_REPO_ROOT = Path(__file__).resolve().parents[3]


def smi_data_dir() -> Path:
    beside = _REPO_ROOT.parent / "shared" / "smi"
    candidates: list[str | Path] = [os.environ.get("SMIMESH_SMI_DATA", ""), beside, "/work/shared/smi"]
    for candidate in candidates:
        if not candidate:
            continue
        path = Path(candidate)
        if (path / "crds").is_dir() and (path / "examples").is_dir():
            return path
    raise FileNotFoundError(
        f"SMI data (crds/, examples/) not found beside the repository ({beside}); "
        "set SMIMESH_SMI_DATA=/path/to/shared/smi"
    )


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
    """OSM's published policy CRDs and doc examples (`shared/osm/`, see its INDEX.md)."""
    beside = _REPO_ROOT.parent / "shared" / "osm"
    for candidate in (os.environ.get("SMIMESH_OSM_DATA", ""), beside, "/work/shared/osm"):
        if candidate and (Path(candidate) / "INDEX.md").is_file():
            return Path(candidate)
    raise FileNotFoundError(f"OSM data not found beside the repository ({beside}); set SMIMESH_OSM_DATA")
