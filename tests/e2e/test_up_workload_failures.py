"""`smimesh up` end to end: a workload that fails to start says why (issue 11, item 5).

A crash loop shows the last lines of the app's stderr; an app that never listens on its $PORT is
reported with the port it was given; the "mesh is up" summary and `smimesh status` blame the apps,
not the sidecars; a Workload restarted by a saved edit is announced; `args` and Kubernetes-style
`$(VAR)` references work as in a Deployment's container. Real `smimesh up`, Envoy, processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from smimesh.testing.up import WORKLOAD, Mesh, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

BROKEN = f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: broken, namespace: shop, labels: {{app: broken}}}}
spec:
  command: [{sys.executable}, -c]
  args:
  - |
    import sys
    print("loading settings", flush=True)
    sys.stderr.write("Traceback (most recent call last):\\n  boom\\nKeyError: 'DATABASE_URL'\\n")
    sys.exit(2)
"""

CLIENT = f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: client, namespace: shop, labels: {{app: client}}}}
spec:
  command: [{sys.executable}, {WORKLOAD}, serve]
  ports: [{{name: http, containerPort: 8080}}]
"""


def deaf(command: str) -> str:
    """A Workload with a port, and its Service; `command` (a YAML flow sequence + args) is what it runs."""
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: deaf, namespace: shop, labels: {{app: deaf}}}}
spec:
  {command}
  ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: deaf, namespace: shop}}
spec:
  selector: {{app: deaf}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


NEVER_LISTENS = f'command: [{sys.executable}, -c, "import time; time.sleep(3600)"]'
# stdlib's HTTP server takes its port and address as arguments: $(PORT) and $(HOST) expand
LISTENS = f'command: [{sys.executable}, -m, http.server]\n  args: ["$(PORT)", --bind, "$(HOST)"]'


@pytest.fixture
def mesh(tmp_path: Path) -> Mesh:
    directory = tmp_path / "shop"
    directory.mkdir()
    write(directory / "broken.yaml", BROKEN)
    write(directory / "client.yaml", CLIENT)
    write(directory / "deaf.yaml", deaf(NEVER_LISTENS))
    config = tmp_path / "mesh-config.yaml"  # open: any workload may call any service
    config.write_text("apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nspec: {trafficPolicy: open}\n")
    started = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json")
    started.env.update(SMIMESH_MESH_CONFIG=str(config), SMIMESH_NOT_LISTENING_AFTER_S="2")
    return started.start()


def status_text(mesh: Mesh) -> str:
    command = [sys.executable, "-m", "smimesh", "status", "--api-addr", mesh.api]
    done = subprocess.run(command, capture_output=True, text=True, env=mesh.env, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_start_failures_are_explained_and_a_fixed_workload_restarts_announced(mesh: Mesh) -> None:
    try:
        eventually(lambda: "mesh is up" in mesh.output(), 60, what="the summary", mesh=mesh)
        output = mesh.output()
        # the crash loop: the app's last stderr lines, not just an exit code
        assert "broken-0 exited (exit code 2); restarting in" in output, output
        assert "last lines of its stderr:\n  | Traceback (most recent call last):" in output, output
        assert "  | KeyError: 'DATABASE_URL'" in output
        assert "loading settings" not in output  # stdout stays in the log
        # the app that never listens: the port it was given
        [row] = mesh.instances("deaf")
        port = row["ports"]["http"]
        given = f"127.0.0.1:{port} ($PORT, containerPort 8080) after 2 s"
        assert f"deaf-0 is not listening on {given}" in output, output
        # the summary blames the apps, not the sidecars
        summary = output[output.index("mesh is up") :]
        assert "mesh is up: 3 workloads, 3 instances, 2 not ready yet:" in summary, summary
        assert "  shop/broken-0: app exited (exit code 2); restarting" in summary
        assert f"  shop/deaf-0: app is not listening on {given}" in summary
        assert "sidecar" not in summary.split("security")[0].replace("sidecars hold", "")
        text = status_text(mesh)
        assert "not ready:" in text and "shop/broken-0: app exited (exit code 2)" in text, text

        # a saved fix: announced, and it serves; args with $(PORT) and $(HOST) expanded
        write(mesh.directory / "deaf.yaml", deaf(LISTENS))
        restarting = "restarting deaf-0.shop: its Workload changed (command, args)"
        eventually(lambda: restarting in mesh.output(), 20, what="the restart announced", mesh=mesh)
        eventually(
            lambda: any(r["ready"] for r in mesh.instances("deaf")), 30, what="deaf-0 ready", mesh=mesh
        )
        with httpx.Client(proxy=mesh.proxy("client-0"), timeout=5) as client:
            answer = client.get("http://deaf.shop/")
        assert answer.status_code == 200 and "deaf.yaml" in answer.text, answer.text  # its directory listing
        log = (mesh.run_dir / "logs" / "shop" / "deaf-0.log").read_text()
        assert f"-m http.server {port} --bind 127.0.0.1" in log, log
    finally:
        assert mesh.stop() == 0
