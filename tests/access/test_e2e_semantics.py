"""End to end: the MeshConfig switches for teams coming from OSM, in real Envoy sidecars and in `explain`.

One mesh with the defaults (SMI readings) and one with `pathRegexMatch: full` and
`tcpRouteAdmitsHttp: true`. In each, the same requests cross two real sidecars, and `smimesh explain`
(a separate process, offline from the same files and MeshConfig, and asking the running mesh)
must give the verdict the destination sidecar gave, naming the switch where it decided: a path
that only start-matches the `pathRegex`, and HTTP from a source whose only rule is a TCPRoute on
the HTTP port.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smimesh.testing.access_e2e import Mesh, eventually, get, http_workload, write
from smimesh.testing.access_world import routes, target, tcp_route

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

ACCESS = "\n---\n".join(
    [
        routes("api", "[{name: api, pathRegex: /api, methods: [GET]}]"),
        target("client-to-web", "web", ["client"], "[{kind: HTTPRouteGroup, name: api}]"),
        tcp_route("web-port", [8080]),
        target("other-to-web", "web", ["other"], "[{kind: TCPRoute, name: web-port}]"),
    ]
)
OSM_LIKE = """
apiVersion: smimesh.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  pathRegexMatch: full
  tcpRouteAdmitsHttp: true
"""
# (source, path) -> (status with the defaults, status with OSM_LIKE, the switch that decides it)
CASES = {
    ("client", "/api"): (200, 200, None),
    ("client", "/api/books"): (200, 403, "pathRegexMatch"),
    ("other", "/anything"): (403, 200, "tcpRouteAdmitsHttp"),
}


def _start(tmp_path: Path, config: str | None) -> tuple[Mesh, list[str]]:
    directory = tmp_path / "mesh"
    directory.mkdir()
    write(directory / "workloads.yaml", "\n---\n".join(http_workload(n) for n in ("web", "client", "other")))
    write(directory / "access.yaml", ACCESS)
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json")
    offline = ["-f", str(directory)]
    if config is not None:
        (tmp_path / "mesh-config.yaml").write_text(config)
        mesh.env["SMIMESH_MESH_CONFIG"] = str(tmp_path / "mesh-config.yaml")
        offline += ["--mesh-config", str(tmp_path / "mesh-config.yaml")]
    mesh.start()
    mesh.wait_ready(expected_instances=3)
    return mesh, offline


def _explain(mesh: Mesh, source: str, path: str, *where: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "smimesh", "explain", "--from", f"shop/{source}", "--to", "web.shop"]
    command += ["GET", path, *where]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=mesh.env)


def _status(mesh: Mesh, source: str, path: str) -> int:
    return get(mesh.proxy(f"{source}-0"), f"http://web.shop{path}").status_code


@pytest.mark.parametrize("config", [None, OSM_LIKE], ids=["defaults", "osm-like"])
def test_sidecars_and_explain_agree_under_both_settings(tmp_path: Path, config: str | None) -> None:
    mesh, offline = _start(tmp_path, config)
    try:
        column = 0 if config is None else 1
        # the policy is in force once the always-allowed request passes
        eventually(lambda: _status(mesh, "client", "/api") == 200, 30, what="the policy in force", mesh=mesh)
        for (source, path), (*statuses, switch) in CASES.items():
            expected = statuses[column]
            assert _status(mesh, source, path) == expected, (source, path)
            for where in (offline, ["--api-addr", mesh.api]):  # from the files, and the running mesh
                told = _explain(mesh, source, path, *where)
                assert told.returncode == (0 if expected == 200 else 1), (
                    source,
                    path,
                    told.stdout,
                    told.stderr,
                )
                if switch is not None:
                    assert f"decided by MeshConfig {switch}" in told.stdout, told.stdout
    finally:
        assert mesh.stop() == 0


def test_a_saved_switch_applies_live_and_explain_follows(tmp_path: Path) -> None:
    mesh, _ = _start(tmp_path, OSM_LIKE)
    try:
        eventually(lambda: _status(mesh, "other", "/anything") == 200, 30, what="L4 rule in force", mesh=mesh)
        assert _status(mesh, "client", "/api/books") == 403
        (tmp_path / "mesh-config.yaml").write_text(OSM_LIKE.replace("full", "start").replace("true", "false"))
        eventually(lambda: _status(mesh, "client", "/api/books") == 200, 30, what="start-anchored", mesh=mesh)
        eventually(lambda: _status(mesh, "other", "/anything") == 403, 30, what="no L4 rule", mesh=mesh)
        for source, path, code in (("client", "/api/books", 0), ("other", "/anything", 1)):
            told = _explain(mesh, source, path, "--api-addr", mesh.api)
            assert told.returncode == code, (source, path, told.stdout, told.stderr)
        console = mesh.output()  # names what changed
        assert "pathRegexMatch full -> start" in console and "tcpRouteAdmitsHttp true -> false" in console
    finally:
        assert mesh.stop() == 0
