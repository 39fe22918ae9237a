"""`smimesh up` as a user meets its errors: clear messages and exit codes, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from smimesh.testing.net import free_port, wait_for_port

SMIMESH = [sys.executable, "-m", "smimesh"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SMIMESH_CONTEXT_FILE": str(tmp_path / "contexts.json")}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMIMESH, *args], env=env, capture_output=True, text=True, timeout=60)


def test_bad_arguments_are_usage_errors(tmp_path: Path, env: dict[str, str]) -> None:
    missing = run(["up", str(tmp_path / "nope")], env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    bad_addr = run(["up", str(tmp_path), "--api-addr", "garbage"], env)
    assert bad_addr.returncode == 2 and "invalid address 'garbage'" in bad_addr.stderr
    assert "stopping" not in bad_addr.stderr  # refused before anything started
    for result in (missing, bad_addr):
        assert "Traceback" not in result.stderr


def test_an_empty_directory_runs_says_what_to_add_and_stops_cleanly_on_sigterm(
    tmp_path: Path, env: dict[str, str]
) -> None:
    port = free_port()
    up = subprocess.Popen(
        [*SMIMESH, "up", str(tmp_path), "--api-addr", f"127.0.0.1:{port}"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30)
        status = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=5).json()
        assert status["instances"] == [] and status["run_dir"] == str((tmp_path / ".smimesh").resolve())
        second = run(["up", str(tmp_path), "--api-addr", f"127.0.0.1:{free_port()}"], env)
        assert second.returncode == 1 and "already runs with" in second.stderr, second.stderr
        busy = run(
            ["up", str(tmp_path), "--api-addr", f"127.0.0.1:{port}", "--run-dir", str(tmp_path / "r2")], env
        )
        assert busy.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr, busy.stderr
        time.sleep(0.5)
    finally:
        up.send_signal(signal.SIGTERM)
        _, stderr = up.communicate(timeout=30)
    assert up.returncode == 0, stderr
    assert "no Workload in the directory" in stderr and "nothing left running" in stderr
    assert "Traceback" not in stderr and "Traceback" not in second.stderr + busy.stderr
    assert not (tmp_path / ".smimesh" / "up.json").exists()
    assert (tmp_path / ".smimesh" / "token").stat().st_mode & 0o077 == 0
