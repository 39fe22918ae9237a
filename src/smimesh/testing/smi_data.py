"""Where the SMI specification data (published CRDs and spec examples) is: `shared/smi/` beside the repo.

The project's clone and `shared/` sit side by side (on developer machines and in CI); an explicit
`SMIMESH_SMI_DATA` overrides. A missing folder is an error, not a skip: tests that compare with the
published SMI material must not pass silently without it.
"""

from __future__ import annotations

import os
from pathlib import Path

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
