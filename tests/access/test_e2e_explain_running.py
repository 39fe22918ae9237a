"""End to end: `smimesh explain` asks the running mesh, so it sees objects applied through the API.

`smimesh up DIR` runs two Workloads (DIR has no Service for `web` and no access policy); the
Service, its HTTPRouteGroup and TrafficTarget come with `smimesh apply`. `explain` then runs from
another directory holding decoy manifests that say something else: it must answer what the
sidecars do (checked with real requests), `--live` must find the sidecar enforcing the applied
policy, and with neither a running mesh nor `-f` it is wrong usage with a hint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smimesh.testing.access_e2e import Mesh, eventually, get, http_workload, write
from smimesh.testing.access_world import routes, target

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

WEB_WORKLOAD, WEB_SERVICE = http_workload("web").split("---")
APPLIED = "\n---\n".join(
    [
        WEB_SERVICE,
        routes("books", "[{name: read, pathRegex: /books, methods: [GET]}]"),
        target("client-to-web", "web", ["client"], "[{kind: HTTPRouteGroup, name: books}]"),
    ]
)


def _smimesh(mesh: Mesh, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "smimesh", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd, env=mesh.env)


def _explain(mesh: Mesh, cwd: Path, path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    asked = ["--from", "shop/client", "--to", "web.shop", "GET", path, "--api-addr", mesh.api]
    return _smimesh(mesh, cwd, "explain", *asked, *extra)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Mesh, Path]]:
    directory = tmp_path / "mesh"
    directory.mkdir()
    write(directory / "workloads.yaml", "\n---\n".join([WEB_WORKLOAD, http_workload("client")]))
    elsewhere = tmp_path / "elsewhere"  # the user's shell is not in the mesh's directory...
    elsewhere.mkdir()  # ...and here, manifests that would give other answers if read
    write(elsewhere / "decoy.yaml", "\n---\n".join(http_workload(n) for n in ("web", "client")))
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json")
    mesh.start()
    try:
        mesh.wait_ready(expected_instances=2)
        (elsewhere / "applied.yaml").write_text(APPLIED)
        applied = _smimesh(mesh, elsewhere, "apply", "-f", "applied.yaml", "--api-addr", mesh.api)
        assert applied.returncode == 0, applied.stderr
        client = mesh.proxy("client-0")
        eventually(
            lambda: get(client, "http://web.shop/books").status_code == 200, 30, what="policy", mesh=mesh
        )
        yield mesh, elsewhere
    finally:
        assert mesh.stop() == 0


def test_explain_answers_from_the_running_mesh_with_applied_objects(running: tuple[Mesh, Path]) -> None:
    mesh, elsewhere = running
    allowed = _explain(mesh, elsewhere, "/books")
    assert allowed.returncode == 0, (allowed.stdout, allowed.stderr)
    assert allowed.stdout.startswith("ALLOWED: shop/client -> web.shop:80 (http) GET /books"), allowed.stdout
    assert "by TrafficTarget/shop/client-to-web (HTTPRouteGroup/books#read)" in allowed.stdout
    assert f"evaluated by: the running mesh at {mesh.api}" in allowed.stdout
    assert get(mesh.proxy("client-0"), "http://web.shop/admin").status_code == 403
    denied = _explain(mesh, elsewhere, "/admin")
    assert denied.returncode == 1 and denied.stdout.startswith("DENIED"), denied.stdout
    ghost = _smimesh(
        mesh, elsewhere, "explain", "--from", "ghost", "--to", "web.shop", "--api-addr", mesh.api
    )
    assert ghost.returncode == 2 and "Traceback" not in ghost.stderr, ghost.stderr
    assert "not a Workload in the running mesh" in ghost.stderr and "shop/client, shop/web" in ghost.stderr


def test_explain_live_checks_the_sidecar_enforcing_the_applied_policy(running: tuple[Mesh, Path]) -> None:
    mesh, elsewhere = running
    answer = _explain(mesh, elsewhere, "/books", "--live", "-o", "json")
    assert answer.returncode == 0, (answer.stdout, answer.stderr)
    data = json.loads(answer.stdout)
    (row,) = data["live"]
    assert row["instance"] == "web-0" and row["agrees"], row
    assert row["enforced_policies"] == ["TrafficTarget/shop/client-to-web"], row
    assert row["counters"]["allowed"] >= 1, row
    # no per-policy counters (a lookup per request): the requests of each per-match route instead
    assert not [k for k in row["counters"] if k.startswith("policy.")], row
    assert row["routes"]["HTTPRouteGroup/shop/books#read"] >= 1, row
    text = _explain(mesh, elsewhere, "/books", "--live").stdout
    assert "web-0: enforces TrafficTarget/shop/client-to-web - matches the control plane" in text, text
    assert "requests under HTTPRouteGroup/shop/books#read: " in text, text


def test_without_a_running_mesh_explain_needs_f(running: tuple[Mesh, Path]) -> None:
    mesh, elsewhere = running
    assert mesh.stop() == 0
    gone = _explain(mesh, elsewhere, "/books")
    assert gone.returncode == 2 and "Traceback" not in gone.stderr, gone.stderr
    assert f"no running mesh at {mesh.api}" in gone.stderr and "smimesh explain -f DIR" in gone.stderr
    offline = _explain(mesh, elsewhere, "/books", "-f", str(mesh.directory))
    assert offline.returncode == 2 and "no Service web in namespace shop in these manifests" in offline.stderr
