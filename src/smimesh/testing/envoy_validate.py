"""Envoy's own judgement of generated config: the real binary in `--mode validate`.

Owns two things the config tests share: inlining every sidecar's generated resources of some worlds
into one static bootstrap (`static_bootstrap`), and handing a bootstrap to Envoy to validate
(`validate_config`). A test asserts on the returned process (exit code, stderr).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from smimesh.local.binaries import find_envoy
from smimesh.mesh import MeshModel, proxy_view
from smimesh.testing import static_config
from smimesh.xds import generate


def static_bootstrap(models: dict[str, MeshModel]) -> dict[str, Any]:
    """One static bootstrap holding every sidecar of every model, keyed by world label."""
    return static_config.static_bootstrap(
        {
            label: {node: generate(proxy_view(model, node)) for node in model.instances}
            for label, model in models.items()
        }
    )


def validate_config(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Envoy's `--mode validate` run on `config` (written under `tmp_path`); it never raises on refusal."""
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    command = [str(find_envoy()), "--mode", "validate", "-c", str(path), "-l", "warning"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
