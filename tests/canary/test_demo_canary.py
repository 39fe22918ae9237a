"""`smimesh demo canary` as a user runs it: v2 (10 % errors) is rolled back by the controller by
itself, v3 is promoted step by step, and `--duration` ends the demo with nothing left running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smimesh.testing.net import free_port

pytestmark = [pytest.mark.envoy, pytest.mark.slow]


def test_demo_canary_rolls_back_then_promotes(tmp_path: Path) -> None:
    env = {**os.environ, "SMIMESH_CONTEXT_FILE": str(tmp_path / "contexts.json")}
    command = [sys.executable, "-m", "smimesh", "demo", "canary", "--dir", str(tmp_path / "demo")]
    command += ["--duration", "120", "--api-addr", f"127.0.0.1:{free_port()}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=280)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    rolled_back = output.index("v2 rolled back by the controller (3 failed checks)")
    promoted = output.index("v3 promoted by the controller (0 failed checks)")
    assert rolled_back < promoted, output[-3000:]
    for weight in (20, 40, 60):
        assert f"Advance podinfo.demo canary weight {weight}" in output[rolled_back:promoted]
    assert "Rolling back podinfo.demo failed checks threshold reached 3" in output[:rolled_back]
    assert "stopped; nothing left running" in output
