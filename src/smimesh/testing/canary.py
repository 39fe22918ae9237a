"""Shared harness of the canary end-to-end tests (tests/canary): the manifests of a target and its
Canary, the controller's API, the weight a caller's sidecar really holds, and a webhook server."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from smimesh.testing import workloads
from smimesh.testing.up import Mesh, eventually, write

PY, SERVE = sys.executable, str(workloads.HERE)
NS = "cd"
OPEN_MESH = """apiVersion: smimesh.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec: {trafficPolicy: open}
"""
CLIENT = f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: client, namespace: {NS}, labels: {{app: client}}}}
spec:
  serviceAccount: client
  command: [{PY}, -c, "import time; time.sleep(1e6)"]
"""


def target(name: str, version: str, env: str = "") -> str:
    return f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {NS}, labels: {{app: {name}}}}}
spec:
  serviceAccount: {name}
  command: [{PY}, {SERVE}, serve]
  env: {{VERSION: {version}{", " + env if env else ""}}}
  ports: [{{name: http, containerPort: 8080}}]
"""


def canary(name: str, analysis: str, annotations: str = "{}") -> str:
    return f"""apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: {name}, namespace: {NS}, annotations: {annotations}}}
spec:
  targetRef: {{apiVersion: smimesh.io/v1alpha1, kind: Workload, name: {name}}}
  service: {{port: 80, targetPort: http}}
  analysis:
{analysis}
"""


def release(directory: Path, name: str, version: str, env: str = "") -> None:
    """Save a new revision of the target (what a user does with an editor or `git pull`)."""
    write(directory / f"{name}.yaml", target(name, version, env))


def status(mesh: Mesh, name: str) -> dict[str, Any]:
    answer = httpx.get(f"http://{mesh.api}/api/v1/canaries/{NS}/{name}", timeout=5)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()["status"]
    return found


def command(mesh: Mesh, name: str, action: str, weight: int | None = None) -> httpx.Response:
    token = (mesh.run_dir / "token").read_text().strip()
    body = {"weight": weight} if weight is not None else None
    return httpx.post(
        f"http://{mesh.api}/api/v1/canaries/{NS}/{name}/{action}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def wait_phase(mesh: Mesh, name: str, phase: str, timeout: float = 90.0) -> dict[str, Any]:
    reached: dict[str, Any] = eventually(
        lambda: (found := status(mesh, name))["phase"] == phase and found,
        timeout,
        what=f"canary {name} in phase {phase}",
        mesh=mesh,
    )
    return reached


def live_weight(mesh: Mesh, service: str, caller: str = "client-0") -> int | None:
    """The percentage the caller's sidecar sends to `<service>-canary` (from its Envoy config)."""
    answer = httpx.get(
        f"http://{mesh.api}/api/v1/proxies/{caller}/config", params={"type": "routes"}, timeout=10
    )
    answer.raise_for_status()
    wanted = f"outbound|{NS}|{service}-canary|80"
    for clusters in _weighted(answer.json()):
        weights = {c["name"]: int(c.get("weight", 0)) for c in clusters}
        if wanted in weights and len(weights) > 1:
            return round(100 * weights[wanted] / sum(weights.values()))
    return None


def _weighted(node: Any) -> Iterator[list[dict[str, Any]]]:
    if isinstance(node, dict):
        if "weighted_clusters" in node:
            yield node["weighted_clusters"].get("clusters", [])
        for value in node.values():
            yield from _weighted(value)
    elif isinstance(node, list):
        for value in node:
            yield from _weighted(value)


class Hooks:
    """A webhook receiver like flagger-loadtester's gates: `open[name]` says whether `/name` answers
    200 (else 403); every payload received is kept in `received[name]`."""

    def __init__(self) -> None:
        self.open: dict[str, bool] = {}
        self.received: dict[str, list[dict[str, Any]]] = {}
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                name = self.path.strip("/")
                hooks.received.setdefault(name, []).append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200 if hooks.open.get(name, True) else 403)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Hooks:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
