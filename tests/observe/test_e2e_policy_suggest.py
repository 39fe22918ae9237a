"""`smimesh policy suggest` moves an audit namespace to enforcing without an outage.

shop runs in audit mode with no TrafficTarget: every call is allowed (and logged). Known traffic:
caller GETs `/books/1` and `/health`, thief GETs `/health`, caller opens a TCP connection to the
`echo` service. `policy suggest -n shop` is applied through the API, the MeshConfig switches shop
to enforcing, and then every observed call is still allowed while calls never seen (caller
`/books/2`, thief `/books/1`, thief's connection to echo) are denied.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from smimesh.testing.observe_world import WORKLOAD, Mesh, eventually, make_world, smimesh, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(300)]
MESH_CONFIG = """
apiVersion: smimesh.io/v1alpha1
kind: MeshConfig
metadata: {{name: mesh}}
spec:
  trafficPolicy: smi
  namespaces:
    shop: {{audit: {audit}}}
"""
ECHO = f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: echo, namespace: shop, labels: {{app: echo}}}}
spec:
  serviceAccount: echo
  command: [{sys.executable}, {WORKLOAD}, echo]
  ports: [{{name: tcp-echo, containerPort: 7000}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: shop}}
spec:
  selector: {{app: echo}}
  ports: [{{name: tcp-echo, port: 7000, targetPort: tcp-echo}}]
"""
OBSERVED = [("caller-0", "/books/1"), ("caller-0", "/health"), ("thief-0", "/health")]
NEVER_SEEN = [("caller-0", "/books/2"), ("thief-0", "/books/1")]


def _echo(mesh: Mesh, instance: str) -> str:
    """What echo answers through the instance's TCP upstream port ('' when the connection is refused)."""
    address = next(r for r in mesh.instances() if r["instance"] == instance)["tcp_upstreams"][
        "echo.shop:7000"
    ]
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(b"hello\n")
            return connection.makefile().readline().strip()
    except OSError:
        return ""


def _status(mesh: Mesh, instance: str, path: str) -> int:
    with httpx.Client(proxy=mesh.proxy(instance), timeout=10) as client:
        return client.get(f"http://web.shop{path}").status_code


def test_suggested_policy_keeps_observed_calls_and_denies_the_rest(tmp_path: Path) -> None:
    make_world(tmp_path / "shop", access=False)
    write(tmp_path / "shop" / "echo.yaml", ECHO)
    config = tmp_path / "mesh-config.yaml"
    config.write_text(MESH_CONFIG.format(audit="true"))
    mesh = Mesh(tmp_path / "shop", tmp_path / "run", tmp_path / "contexts.json")
    mesh.env["SMIMESH_MESH_CONFIG"] = str(config)
    mesh.start()
    try:
        mesh.wait_ready(expected_instances=5)
        for instance, path in OBSERVED * 2:
            assert _status(mesh, instance, path) == 200  # audit: would-be denials are allowed
        assert _echo(mesh, "caller-0") == "echo-0 hello"

        def suggestion() -> list[dict[str, object]] | None:
            result = smimesh(mesh, "policy", "suggest", "-n", "shop", "--window", "10m")
            assert result.returncode == 0, result.stderr
            documents = [d for d in yaml.safe_load_all(result.stdout) if d]
            targets = [d for d in documents if d["kind"] == "TrafficTarget"]
            return documents if len(targets) == 3 else None

        documents = eventually(suggestion, 30, what="a suggestion for caller, thief and echo", mesh=mesh)
        kinds = [d["kind"] for d in documents]
        assert (kinds.count("HTTPRouteGroup"), kinds.count("TCPRoute")) == (1, 1)
        tcp_route = next(d for d in documents if d["kind"] == "TCPRoute")
        assert tcp_route["spec"] == {"matches": {"ports": [7000]}}
        applied = smimesh(mesh, "apply", "-f", "-", stdin=yaml.safe_dump_all(documents))
        assert applied.returncode == 0, applied.stdout + applied.stderr

        config.write_text(MESH_CONFIG.format(audit="false"))
        eventually(lambda: _status(mesh, "thief-0", "/books/1") == 403, 30, what="shop enforcing", mesh=mesh)
        assert [_status(mesh, i, p) for i, p in OBSERVED] == [200] * len(OBSERVED)
        assert [_status(mesh, i, p) for i, p in NEVER_SEEN] == [403] * len(NEVER_SEEN)
        assert _echo(mesh, "caller-0") == "echo-0 hello"
        assert _echo(mesh, "thief-0") == ""  # never seen: the destination's RBAC closes it
    finally:
        mesh.stop()
