"""Non-HTTP upstreams: a TCP service is reached through the local port announced in the environment."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import httpx
import pytest

from smimesh.testing.up import WORKLOAD, Mesh, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]


MESH = f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: echo, namespace: data, labels: {{app: echo}}}}
spec:
  serviceAccount: echo
  replicas: 2
  command: [{sys.executable}, {WORKLOAD}, echo]
  ports: [{{name: tcp-echo, containerPort: 7000}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: data}}
spec:
  selector: {{app: echo}}
  ports: [{{name: tcp-echo, port: 7000, targetPort: tcp-echo}}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: app, namespace: data, labels: {{app: app}}}}
spec:
  serviceAccount: app
  command: [{sys.executable}, {WORKLOAD}, serve]
  ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {{name: echo-port, namespace: data}}
spec: {{matches: {{ports: [7000]}}}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: app-to-echo, namespace: data}}
spec:
  destination: {{kind: ServiceAccount, name: echo, namespace: data}}
  rules: [{{kind: TCPRoute, name: echo-port}}]
  sources: [{{kind: ServiceAccount, name: app, namespace: data}}]
"""


def echo_through(address: str, text: str) -> str:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(text.encode() + b"\n")
        return connection.makefile().readline().strip()


def test_tcp_service_is_reached_through_the_announced_local_port(tmp_path: Path) -> None:
    directory = tmp_path / "mesh"
    directory.mkdir()
    write(directory / "mesh.yaml", MESH)
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json").start()
    try:
        rows = {r["instance"]: r for r in mesh.wait_ready(expected_instances=3)}
        announced = rows["app-0"]["tcp_upstreams"]["echo.data:7000"]
        # the app itself was started with the variable the runtime announced
        env = httpx.get(f"http://127.0.0.1:{rows['app-0']['ports']['http']}/", timeout=5).json()[
            "tcp_upstreams"
        ]
        assert env == {"SMIMESH_TCP_ECHO_DATA_7000": announced}
        answers = {echo_through(announced, f"hello {i}").split(" ", 1)[0] for i in range(30)}
        assert answers == {"echo-0", "echo-1"}  # both replicas, through the app's sidecar
    finally:
        assert mesh.stop() == 0
