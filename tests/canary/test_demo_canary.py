"""`smimesh demo canary` as a user runs it: v2 (10 % errors) is rolled back by the controller by
itself, v3 is promoted step by step, and Ctrl-C (or `--duration`) ends the demo with nothing left running.

The story is watched as it is told and interrupted once it is over, rather than waiting out a
`--duration` long enough for a loaded machine; `--duration` gets its own short run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from smimesh.testing.net import free_port, wait_until

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

DONE = "done: v3 serves all traffic"
STORY_TIMEOUT_S = 240  # generous for a loaded machine: a budget for a hang, not a timing assertion


def _demo(tmp_path: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "SMIMESH_CONTEXT_FILE": str(tmp_path / "contexts.json")}
    command = [sys.executable, "-m", "smimesh", "demo", "canary", "--dir", str(tmp_path / "demo")]
    return [*command, "--api-addr", f"127.0.0.1:{free_port()}", *extra], env


def test_demo_canary_rolls_back_then_promotes(tmp_path: Path) -> None:
    command, env = _demo(tmp_path)
    log = tmp_path / "demo.log"
    with log.open("wb") as sink:
        demo = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: DONE in log.read_text() or demo.poll() is not None, STORY_TIMEOUT_S, 0.5, DONE)
        demo.send_signal(signal.SIGINT)  # Ctrl-C, as the demo's last line tells the user
        returncode = demo.wait(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    output = log.read_text()
    assert returncode == 0, output[-3000:]
    rolled_back = output.index("v2 rolled back by the controller (3 failed checks)")
    promoted = output.index("v3 promoted by the controller (0 failed checks)")
    assert rolled_back < promoted, output[-3000:]
    for weight in (20, 40, 60):
        assert f"Advance podinfo.demo canary weight {weight}" in output[rolled_back:promoted]
    assert "Rolling back podinfo.demo failed checks threshold reached 3" in output[:rolled_back]
    assert "stopped; nothing left running" in output, output[-3000:]


def test_demo_canary_duration_stops_it_by_itself(tmp_path: Path) -> None:
    command, env = _demo(tmp_path, "--duration", "5")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "stopped; nothing left running" in output, output[-3000:]
