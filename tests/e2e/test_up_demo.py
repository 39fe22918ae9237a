"""`smimesh demo` end to end, as a user runs it: the live view reports real traffic and follows a split edit.

Also drives `smimesh status` and `smimesh logs` against the running demo, as separate processes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smimesh.testing.net import free_port

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

SMIMESH = [sys.executable, "-m", "smimesh"]


def wait_for_text(path: Path, pattern: str, timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} never appeared in:\n{path.read_text(errors='replace')[-4000:]}")


def test_demo_runs_shows_live_traffic_follows_a_split_edit_and_stops_cleanly(tmp_path: Path) -> None:
    demo_dir, api = tmp_path / "bookstore", f"127.0.0.1:{free_port()}"
    env = {**os.environ, "SMIMESH_CONTEXT_FILE": str(tmp_path / "contexts.json"), "COLUMNS": "200"}
    out = tmp_path / "demo.out"
    with open(out, "wb") as log:
        demo = subprocess.Popen(
            [*SMIMESH, "demo", "--dir", str(demo_dir), "--duration", "40", "--api-addr", api],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for_text(out, "demo files in", 30)
        wait_for_text(out, r"buyer-0: [0-9.]+ req/s, 100.0% ok, v1 [0-9.]+%", 40)

        cli = {"env": env, "capture_output": True, "text": True, "timeout": 30}
        status = subprocess.run([*SMIMESH, "status", "--api-addr", api], **cli)  # type: ignore[call-overload]
        assert status.returncode == 0, status.stderr
        assert "bookstore-v2-0" in status.stdout and "SYNCED" in status.stdout
        logs = subprocess.run([*SMIMESH, "logs", "bookstore-v1", "--api-addr", api], **cli)  # type: ignore[call-overload]
        assert logs.returncode == 0 and "listening on" in logs.stdout, logs.stdout + logs.stderr
        sidecar = subprocess.run([*SMIMESH, "logs", "buyer-0", "--sidecar", "--api-addr", api], **cli)  # type: ignore[call-overload]
        assert sidecar.returncode == 0 and "starting buyer-0 sidecar" in sidecar.stdout

        split = demo_dir / "split.yaml"
        split.write_text(
            split.read_text().replace("weight: 90", "weight: 0").replace("weight: 10", "weight: 100")
        )
        wait_for_text(out, r"buyer-0: [0-9.]+ req/s, 100.0% ok, v2 100.0%", 20)
        assert demo.wait(60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = out.read_text()
    assert "edit" in text and "split.yaml" in text  # it tells the user what to edit
    assert "nothing left running" in text
    assert "Traceback" not in text


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (a real terminal for the live view)")
def test_demo_live_view_in_a_real_terminal(tmp_path: Path) -> None:
    session = f"smimesh-demo-{os.getpid()}"
    api = f"127.0.0.1:{free_port()}"
    command = " ".join(
        [*SMIMESH, "demo", "--dir", str(tmp_path / "bookstore"), "--duration", "20", "--api-addr", api]
    )
    env_prefix = f"SMIMESH_CONTEXT_FILE={tmp_path / 'contexts.json'}"
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "150",
            "-y",
            "45",
            f"{env_prefix} {command}; sleep 30",
        ],
        check=True,
    )
    try:
        deadline, screen = time.monotonic() + 60, ""
        while time.monotonic() < deadline:
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if re.search(r"buyer-0\s+│\s+[0-9.]+\s+│\s+100.0%\s+│\s+v1 [0-9.]+%", screen):
                break
            time.sleep(0.5)
        assert "bookstore demo — live" in screen, screen
        assert re.search(r"buyer-0\s+│\s+[0-9.]+\s+│\s+100.0%\s+│\s+v1 [0-9.]+%", screen), screen
        assert "split now: bookstore-v1 90 / bookstore-v2 10" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "C-c", ""], check=True)  # as a user stops it
        deadline = time.monotonic() + 30
        while "nothing left running" not in screen and time.monotonic() < deadline:
            time.sleep(0.5)
            screen = subprocess.run(
                ["tmux", "capture-pane", "-p", "-S", "-200", "-t", session], capture_output=True, text=True
            ).stdout
        assert "nothing left running" in screen and "Traceback" not in screen, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
