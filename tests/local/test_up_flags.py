"""`smimesh up` flags that must come in pairs or agree are refused up front (exit 2, no traceback,
nothing started); a bad user CA is a one-line error with the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SMIMESH = [sys.executable, "-m", "smimesh"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SMIMESH_CONTEXT_FILE": str(tmp_path / "contexts.json")}


def up(tmp_path: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    command = [
        *SMIMESH,
        "up",
        str(tmp_path),
        "--api-addr",
        "127.0.0.1:0",
        "--run-dir",
        str(tmp_path / "r"),
        *flags,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--metrics-backend", "prometheus"], "--metrics-backend prometheus needs --prometheus-url"),
        (["--prometheus-url", "http://127.0.0.1:9090"], "--prometheus-url is only used with"),
        (
            ["--metrics-backend", "prometheus", "--prometheus-url", "localhost:9090"],
            "invalid --prometheus-url",
        ),
        (["--metrics-backend", "graphite"], "'graphite' is not one of 'builtin', 'prometheus'"),
        (["--xds-mode", "incremental"], "'incremental' is not one of 'sotw', 'delta'"),
    ],
)
def test_flags_that_disagree_are_usage_errors(
    tmp_path: Path, env: dict[str, str], flags: list[str], message: str
) -> None:
    result = up(tmp_path, env, *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r").exists()


def test_a_ca_cert_without_its_key_is_a_usage_error(tmp_path: Path, env: dict[str, str]) -> None:
    cert = tmp_path / "ca.pem"
    cert.write_text("x")
    result = up(tmp_path, env, "--ca-cert", str(cert))
    assert result.returncode == 2 and "--ca-cert needs --ca-key" in result.stderr, result.stderr


def test_a_ca_that_is_not_pem_is_refused_with_the_file_and_the_fix(
    tmp_path: Path, env: dict[str, str]
) -> None:
    cert, key = tmp_path / "ca.pem", tmp_path / "ca.key"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    key.chmod(0o600)
    result = up(tmp_path, env, "--ca-cert", str(cert), "--ca-key", str(key))
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert str(cert) in result.stderr and "BEGIN CERTIFICATE" in result.stderr, result.stderr
