"""`smimesh explain` as a user runs it: exit status, text and JSON, mistakes as hints (no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from smimesh.testing.access_world import routes, target, workload
from smimesh.testing.net import free_port


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "mesh.yaml").write_text(
        "\n---\n".join(
            [
                workload("web"),
                workload("client"),
                routes("api", '[{name: read, pathRegex: "/books", methods: [GET]}]'),
                target(
                    "client-to-web", "web", ["client"], "[{kind: HTTPRouteGroup, name: api, matches: [read]}]"
                ),
            ]
        )
    )
    command = [sys.executable, "-m", "smimesh", "explain", "-f", str(tmp_path / "mesh.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_allowed_and_denied_exit_codes_and_text(tmp_path: Path) -> None:
    allowed = _run(tmp_path, "--from", "client", "--to", "web.shop", "GET", "/books")
    assert allowed.returncode == 0 and allowed.stdout.startswith("ALLOWED")
    assert "TrafficTarget/shop/client-to-web" in allowed.stdout
    denied = _run(tmp_path, "--from", "shop/client", "--to", "web:80", "POST", "/books", "-H", "x-a: 1")
    assert denied.returncode == 1 and denied.stdout.startswith("DENIED")
    assert "kind: TrafficTarget" in denied.stdout


def test_json_output(tmp_path: Path) -> None:
    done = _run(tmp_path, "--from", "client", "--to", "web.shop", "-o", "json")
    data = json.loads(done.stdout)
    assert data["allowed"] is False and data["request"] == {"method": "GET", "path": "/", "headers": {}}


def test_mistakes_are_usage_errors_with_hints(tmp_path: Path) -> None:
    for args, words in [
        (("--from", "ghost", "--to", "web.shop"), "Workloads: shop/client, shop/web"),
        (("--from", "client", "--to", "nope.shop"), "Services: client.shop, web.shop"),
        (("--from", "client", "--to", "web.shop", "GET", "/", "-H", "broken"), "Name: value"),
        (("--from", "client", "--to", "web.shop:http"), "must be a number"),
    ]:
        done = _run(tmp_path, *args)
        assert done.returncode == 2, done
        assert "Traceback" not in done.stderr and words in done.stderr


def test_without_a_running_mesh_or_f_it_is_wrong_usage_with_a_hint(tmp_path: Path) -> None:
    """From a directory full of manifests, `explain` never reads them unless -f says so."""
    _run(tmp_path, "--from", "client", "--to", "web.shop")  # writes tmp_path/mesh.yaml, a decoy here
    nobody = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "smimesh", "explain", "--from", "client", "--to", "web.shop"]
    env = {**os.environ, "SMIMESH_CONTEXT_FILE": str(tmp_path / "contexts.json"), "SMIMESH_API_ADDR": nobody}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"no running mesh at {nobody}" in done.stderr and "smimesh explain -f DIR" in done.stderr
    config = tmp_path / "mesh-config.yaml"
    config.write_text("apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: m}\nspec: {}\n")
    done = subprocess.run(
        [*command, "--mesh-config", str(config)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 2 and "--mesh-config goes with -f" in done.stderr, done.stderr
