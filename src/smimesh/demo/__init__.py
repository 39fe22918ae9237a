"""The bookstore demo shipped with smimesh: its manifests and workload programs, and copying them out.

`manifests/` is package data (pyproject's `demo/**/*`): SMI objects, Services and Workloads for a
bookstore mesh, and the standard-library programs they run. `smimesh demo` copies it to a working
directory the user can edit, then runs `smimesh up` on that copy.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

SPLIT_FILE = "split.yaml"
STATS_DIR = ".stats"  # hidden, so the file source does not read the shoppers' JSON as manifests
CLIENTS = ("buyer-0", "thief-0")


def manifests() -> Path:
    """The packaged demo directory."""
    return Path(str(resources.files(__package__) / "manifests"))


def copy_to(destination: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the demo into `destination`; existing files are kept unless `overwrite` (a user's edits survive).

    Returns the files written.
    """
    written = []
    source = manifests()
    for path in sorted(source.rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        target = destination / path.relative_to(source)
        if target.exists() and not overwrite:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        written.append(target)
    return written
