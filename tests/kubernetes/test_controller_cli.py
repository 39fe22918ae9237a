"""`smimesh controller` as a user runs it: against a kubeconfig, until SIGTERM; clear errors otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.net import wait_until

SMIMESH = [sys.executable, "-m", "smimesh"]


def test_controller_runs_against_a_kubeconfig_until_sigterm(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        config = api.write_kubeconfig(tmp_path / "kubeconfig")
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "smimesh-system"}})
        argv = [
            *SMIMESH,
            "controller",
            "--kubeconfig",
            str(config),
            "--xds-addr",
            "127.0.0.1:0",
            "--webhook-addr",
            "127.0.0.1:0",
            "--identity",
            "cli-replica",
            "--state-dir",
            str(tmp_path / "s"),
        ]
        with subprocess.Popen(  # its stderr pipe closed when the block ends
            argv, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        ) as process:
            try:
                assert process.stderr is not None
                lines = iter(process.stderr.readline, "")
                assert any("smimesh controller cli-replica: xDS on port" in line for line in lines)
                lease = ("leases.coordination.k8s.io", "smimesh-system", "smimesh-controller")
                wait_until(
                    lambda: (
                        (api.api.store.get(lease) or {}).get("spec", {}).get("holderIdentity")
                        == "cli-replica"
                    ),
                    30,
                    what="the lease taken",
                )
                assert api.api.store.get(("secrets", "smimesh-system", "smimesh-ca")) is not None
                assert oct((tmp_path / "s" / "ca" / "ca.key").stat().st_mode & 0o777) == "0o600"
            finally:
                process.send_signal(signal.SIGTERM)
                assert process.wait(30) == 0
        # A clean stop gives the lease up, so another replica need not wait it out.
        assert api.api.store.get(lease)["spec"]["holderIdentity"] == ""


def test_controller_with_a_missing_kubeconfig_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SMIMESH, "controller", "--kubeconfig", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot read the kubeconfig" in result.stderr and "--kubeconfig" in result.stderr
    assert "Traceback" not in result.stderr
