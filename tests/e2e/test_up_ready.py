"""`smimesh up` end to end: "ready" means traffic flows (issue 11, item 3).

An instance that `smimesh status` calls ready must answer the very first request sent to it: its
app serves and every caller's sidecar holds (has ACKed config with) its endpoint. Before, status
showed running + SYNCED 0.07-0.7 s before the endpoint reached the callers, and a request in that
window got 503 "no healthy upstream". Real `smimesh up`, real Envoy sidecars, real processes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.testing import manifests
from smimesh.testing.up import WORKLOAD, Mesh, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

CLIENT = manifests.documents(
    manifests.server("client", "shop"),
    manifests.everything("shop"),
    manifests.allow("client-to-web", "shop", "web"),
)


def web(replicas: int) -> str:
    """A backend whose app takes a moment to listen (its sidecar is long in sync by then)."""
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: web, namespace: shop, labels: {{app: web}}}}
spec:
  serviceAccount: web
  replicas: {replicas}
  command: [sh, -c, "sleep 1; exec {sys.executable} {WORKLOAD} serve"]
  ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: shop}}
spec:
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


def says_ready(row: dict[str, Any]) -> bool:
    """What status calls ready (`ready`; a status without that field meant running and SYNCED)."""
    return bool(row.get("ready", row["state"] == "running" and row["sync"] == "SYNCED"))


def poll_until_ready(mesh: Mesh, instance: str, timeout: float = 60.0) -> None:
    """Ask the API as fast as it answers, so the first "ready" is seen at once."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            rows = client.get(f"http://{mesh.api}/api/v1/status").json()["instances"]
            if any(r["instance"] == instance and says_ready(r) for r in rows):
                return
    raise AssertionError(f"{instance} never ready\n{mesh.output()[-3000:]}")


def test_the_first_request_after_status_says_ready_is_answered(tmp_path: Path) -> None:
    directory = tmp_path / "shop"
    directory.mkdir()
    write(directory / "client.yaml", CLIENT)
    write(directory / "web.yaml", web(replicas=0))
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json").start()
    try:
        mesh.wait_ready(expected_instances=1)
        proxy = mesh.proxy("client-0")
        eventually(lambda: "mesh is up: 1 workloads, 1 instances, all ready" in mesh.output(), 30, mesh=mesh)
        with httpx.Client(proxy=proxy, timeout=5) as caller:  # made before: the request leaves at once
            for attempt in range(3):  # scale up, wait for "ready", one request; down again; repeat
                write(directory / "web.yaml", web(replicas=1))
                poll_until_ready(mesh, "web-0")
                answer = caller.get("http://web.shop/")
                assert answer.status_code == 200, f"attempt {attempt}: {answer.text}\n{mesh.output()[-2000:]}"
                write(directory / "web.yaml", web(replicas=0))
                eventually(lambda: len(mesh.instances()) == 1, 30, what="web-0 stopped", mesh=mesh)

        status = subprocess.run(
            [sys.executable, "-m", "smimesh", "status", "--api-addr", mesh.api],
            capture_output=True,
            text=True,
            env=mesh.env,
            timeout=30,
        )
        assert status.returncode == 0, status.stderr
        assert "READY" in status.stdout and "all ready (every instance serves" in status.stdout, status.stdout
    finally:
        assert mesh.stop() == 0
