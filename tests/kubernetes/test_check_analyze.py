"""`smimesh check [--pre]` and `smimesh analyze` against the test API server, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.kubernetes.kube_e2e import KubeWorld
from tests.kubernetes.kube_world import meshed_namespace

from smimesh.resources.crd import all_crds
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.net import wait_until

SMIMESH = [sys.executable, "-m", "smimesh"]


def smimesh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMIMESH, *args], capture_output=True, text=True, timeout=120, check=False)


def test_check_before_and_after_install(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        world = KubeWorld(api, tmp_path)
        config = str(world.kubeconfig)
        pre = smimesh("check", "--pre", "--kubeconfig", config)
        assert pre.returncode == 0, pre.stdout
        assert "✔ Kubernetes version: v1.29.0" in pre.stdout and "✔ APIs smimesh uses" in pre.stdout

        missing = smimesh("check", "--kubeconfig", config)
        assert missing.returncode == 1
        assert (
            "✘ CRD trafficsplits.split.smi-spec.io" in missing.stdout and "smimesh install" in missing.stdout
        )
        try:
            world.install()
            replica = world.start_replica("replica-a")
            wait_until(lambda: replica.call(lambda c: c.writes.bundles_synced), 30, what="caBundle")
            after = smimesh("check", "--kubeconfig", config, "-o", "json")
            checks = {c["name"]: c for c in json.loads(after.stdout)}
            assert checks["conversion webhook answers with a valid certificate"]["status"] == "ok", checks
            assert checks["a replica holds the lease"]["status"] == "ok"
            assert checks["control-plane replicas ready"]["status"] == "warning"  # no Deployment here
            assert all(c["status"] == "ok" for n, c in checks.items() if n.startswith("CRD ")), checks
            assert after.returncode == 0, after.stdout
        finally:
            world.close()
        stale = smimesh("check", "--kubeconfig", config)  # the replica is gone: its lease expires
        assert "a replica holds the lease" in stale.stdout


def test_check_an_unreachable_api_server(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        config = api.write_kubeconfig(tmp_path / "kubeconfig")
    result = smimesh("check", "--kubeconfig", str(config))
    assert result.returncode == 1 and "✘ API server reachable" in result.stdout
    assert "Traceback" not in result.stderr


def test_analyze_reports_every_diagnostic_in_the_cluster(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        world = KubeWorld(api, tmp_path)
        for definition in all_crds():
            api.create(definition)
        meshed_namespace(api, "shop")
        api.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
            }
        )
        api.create(
            {
                "apiVersion": "split.smi-spec.io/v1alpha4",
                "kind": "TrafficSplit",
                "metadata": {"name": "s", "namespace": "shop"},
                "spec": {"service": "web", "backends": [{"service": "missing", "weight": 1}]},
            }
        )
        result = smimesh("analyze", "--kubeconfig", str(world.kubeconfig), "-o", "json")
        report = json.loads(result.stdout)
        codes = {(d["code"], d["object"]["name"]) for d in report["diagnostics"]}
        assert ("SM4005", "s") in codes, codes
        text = smimesh("analyze", "--kubeconfig", str(world.kubeconfig), "-n", "other")
        assert text.returncode == 0 and "no problems" in text.stdout
