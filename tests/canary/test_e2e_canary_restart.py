"""A restart of `smimesh up` in the middle of a rollout resumes it: same phase, weight and failed
checks (from the run directory's canaries.sqlite3), the canary revision running again, and the
rollout goes on to promotion instead of starting over."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import pytest

from smimesh.testing.canary import CLIENT, NS, OPEN_MESH, canary, release, status, target, wait_phase
from smimesh.testing.up import Mesh, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

ANALYSIS = """    interval: 2s
    threshold: 2
    maxWeight: 80
    stepWeight: 20
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 90}, interval: 2s}"""
NO_DATA_PASSES = "{smimesh.io/on-no-data: pass}"  # this test is about the restart, not traffic


def _mesh(root: Path) -> Mesh:
    extra = ["--mesh-config", str(root / "mesh-config.yaml")]
    return Mesh(root / "mesh", root / "run", root / "contexts.json", extra).start()


def test_restart_mid_rollout_resumes_it(tmp_path: Path) -> None:
    directory = tmp_path / "mesh"
    directory.mkdir()
    write(tmp_path / "mesh-config.yaml", OPEN_MESH)
    write(directory / "client.yaml", CLIENT)
    write(directory / "web.yaml", target("web", "v1"))
    write(directory / "web-canary.yaml", canary("web", ANALYSIS, NO_DATA_PASSES))
    mesh = _mesh(tmp_path)
    try:
        wait_phase(mesh, "web", "Initialized", timeout=120)
        release(directory, "web", "v2")
        eventually(lambda: status(mesh, "web")["canaryWeight"] >= 40, 60, what="weight 40", mesh=mesh)
        mesh.stop()
        before = status_file_weight(tmp_path)
        assert before >= 40
        mesh = _mesh(tmp_path)
        found = eventually(lambda: status(mesh, "web"), 60, what="the API back", mesh=mesh)
        assert found["phase"] == "Progressing" and found["canaryWeight"] >= before, found
        eventually(lambda: mesh.instances("web"), 60, what="the canary running again", mesh=mesh)
        wait_phase(mesh, "web", "Succeeded", timeout=120)
        proxy = mesh.proxy("client-0")
        with httpx.Client(proxy=proxy, timeout=10) as client:
            seen = Counter(client.get(f"http://web.{NS}/").json()["version"] for _ in range(10))
        assert seen == Counter({"v2": 10})
        log = (tmp_path / "run" / "logs" / NS / "canary-web.log").read_text()
        assert log.count("New revision detected") == 1, log  # resumed, never restarted
    finally:
        mesh.stop()


def status_file_weight(root: Path) -> int:
    """The weight saved in the run directory when `up` stopped (what the restart must resume from)."""
    with sqlite3.connect(root / "run" / "canaries.sqlite3") as db:
        (text,) = db.execute("SELECT state FROM canaries WHERE name='web'").fetchone()
    return int(json.loads(text)["canary_weight"])
