"""Flagger's own example Canaries (tests/data/upstream/flagger/, unchanged) under `smimesh up`, next to a
Workload `podinfo` standing in for their Deployment: they initialize (the -primary copy, the three
Services, the split; `podinfo.test:80` answers from the primary), and a new revision starts the
analysis, whose pre-rollout webhook to flagger-loadtester (not running here) is a failed check
named in the status, as Flagger reports it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from smimesh.testing.canary import OPEN_MESH, PY, SERVE
from smimesh.testing.smi_data import upstream_dir
from smimesh.testing.up import Mesh, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

FLAGGER = upstream_dir("flagger")
EXAMPLES = {"linkerd": "canary_linkerd-provider_webhooks.yaml", "osm": "canary_osm-provider_tutorial.yaml"}
PRE_ROLLOUT = {"linkerd": "conformance-test", "osm": "acceptance-test"}


def podinfo(version: str) -> str:
    return f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: podinfo, namespace: test, labels: {{app: podinfo}}}}
spec:
  command: [{PY}, {SERVE}, serve]
  env: {{VERSION: {version}}}
  ports: [{{name: http, containerPort: 9898}}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: client, namespace: test, labels: {{app: client}}}}
spec:
  command: [{PY}, -c, "import time; time.sleep(1e6)"]
"""


def _status(mesh: Mesh) -> dict[str, object]:
    answer = httpx.get(f"http://{mesh.api}/api/v1/canaries/test/podinfo", timeout=5)
    answer.raise_for_status()
    found: dict[str, object] = answer.json()["status"]
    return found


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_flagger_example_runs_unchanged_next_to_a_workload(tmp_path: Path, example: str) -> None:
    directory = tmp_path / "mesh"
    directory.mkdir()
    write(tmp_path / "mesh-config.yaml", OPEN_MESH)
    write(directory / "podinfo.yaml", podinfo("v1"))
    write(directory / "canary.yaml", (FLAGGER / EXAMPLES[example]).read_text())
    mesh = Mesh(
        directory,
        tmp_path / "run",
        tmp_path / "ctx.json",
        ["--mesh-config", str(tmp_path / "mesh-config.yaml")],
    )
    mesh.start()
    try:
        eventually(lambda: _status(mesh)["phase"] == "Initialized", 120, what="Initialized", mesh=mesh)
        mesh.wait_ready(expected_instances=2, timeout=120)  # the client and podinfo-primary
        port = 80 if example == "linkerd" else 9898
        with httpx.Client(proxy=mesh.proxy("client-0"), timeout=10) as client:
            answer = client.get(f"http://podinfo.test:{port}/").json()
        assert (answer["pod"], answer["version"]) == ("podinfo-primary-0", "v1")
        assert "SM3901" in mesh.output()  # autoscalerRef and co. are named as ignored
        write(directory / "podinfo.yaml", podinfo("v2"))
        found = eventually(
            lambda: (s := _status(mesh))["failedChecks"] and s, 60, what="a failed check", mesh=mesh
        )
        assert found["phase"] == "Progressing"
        assert f"pre-rollout hook {PRE_ROLLOUT[example]} failed" in str(found["message"]), found
    finally:
        mesh.stop()
