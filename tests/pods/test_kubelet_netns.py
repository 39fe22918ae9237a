"""The injected pod spec executed by the test kit's kubelet in network namespaces, with real Envoy.

A stand-in control plane (`smimesh.testing.static_xds`, in the node namespace) gives the sidecar an
empty config: what is tested here is the pod itself — init order, capture, the sidecar's UID, the
startup probe, kubelet's probes through the health port, what another pod can reach — and the fault
drills that need no mesh config (capture rules missing, sidecar killed).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.pods.netlab_kit import SMIMESH, connect, lab, needs_root, serve

from smimesh.pods.inject import InjectConfig, inject_object
from smimesh.testing.kubelet import Kubelet, RunningPod
from smimesh.testing.net import wait_until
from smimesh.testing.netns import NODE_IP, NetLab
from smimesh.testing.pod_world import APP

__all__ = ["lab"]
pytestmark = [needs_root, pytest.mark.envoy]
XDS_PORT = 15010


def web_pod() -> dict[str, Any]:
    container = {
        "name": "web",
        "image": "web:1",
        "command": [sys.executable, "-c", APP],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {"serviceAccountName": "web", "containers": [container]},
    }


def http_in(lab: NetLab, netns: str, url: str, uid: int | None = None) -> tuple[int, str]:
    """GET `url` from inside a namespace: (status, body), status 0 when no answer came."""
    script = (
        f"import urllib.request, urllib.error\ntry:\n r = urllib.request.urlopen({url!r}, timeout=5)\n"
        " print(r.status); print(r.read().decode())\nexcept urllib.error.HTTPError as e:\n"
        " print(e.code); print(e.read().decode())\nexcept OSError as e:\n print(0); print(e)"
    )
    out = lab.exec(netns, [sys.executable, "-c", script], uid=uid).stdout
    status, _, body = out.partition("\n")
    return int(status or 0), body


def from_node(lab: NetLab, url: str) -> tuple[int, str]:
    """What kubelet (on the node) gets for `url`."""
    return http_in(lab, lab.node, url)


@pytest.fixture
def meshed(lab: NetLab, tmp_path: Path) -> tuple[Kubelet, RunningPod]:
    web, peer = lab.add_pod("web"), lab.add_pod("peer")
    cp = lab.run(
        lab.node,
        [sys.executable, "-m", "smimesh.testing.static_xds", f"{NODE_IP}:{XDS_PORT}", "web-0.shop"],
        stdout=subprocess.PIPE,
    )
    assert cp.stdout is not None and cp.stdout.readline().strip() == b"serving"
    serve(lab, peer.netns, 9090, "PEER")
    injected = inject_object(web_pod(), InjectConfig(xds_address=f"{NODE_IP}:{XDS_PORT}", concurrency=1)).obj
    kubelet = Kubelet(lab, tmp_path)
    running = kubelet.start(injected, web, token="token-of-web-0")
    wait_until(
        lambda: from_node(lab, f"http://{web.ip}:15020/app-health/web/readiness")[0] == 200,
        timeout=30,
        what="app up",
    )
    return kubelet, running


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def test_the_mutated_pod_runs_capture_then_the_sidecar_then_the_app(
    lab: NetLab, meshed: tuple[Kubelet, RunningPod]
) -> None:
    kubelet, running = meshed
    web_ns, web_ip = running.pod.netns, running.pod.ip
    assert list(running.containers) == ["smimesh-capture", "smimesh-proxy", "web"]
    rules = lab.exec(web_ns, ["iptables", "-t", "nat", "-S"]).stdout
    assert "-A OUTPUT -p tcp -j SMIMESH_OUTPUT" in rules
    proxy = running.containers["smimesh-proxy"].process
    assert proxy is not None and proxy.poll() is None and uid_of(proxy.pid) == 1337
    # the bootstrap carries the pod's token for the control plane, and is private to the proxy's user
    ready = kubelet.probe(running, running.containers["smimesh-proxy"], "readinessProbe")
    assert ready.returncode == 0, ready.stderr
    assert "traffic capture is in force" in ready.stdout
    # kubelet's rewritten probe reaches the app's own path through the health port
    status, body = from_node(lab, f"http://{web_ip}:15020/app-health/web/readiness")
    assert (status, body.strip()) == (200, "web ok path=/healthz")
    status, body = from_node(lab, f"http://{web_ip}:15020/stats/prometheus")
    assert status == 200 and "envoy_server_live" in body
    assert (
        from_node(lab, f"http://{web_ip}:15020/config_dump")[0] == 404
    )  # only the metrics path of the admin


def test_another_pod_reaches_neither_the_admin_nor_the_app_directly(
    lab: NetLab, meshed: tuple[Kubelet, RunningPod]
) -> None:
    _, running = meshed
    peer_ns, web_ip = lab.pods["peer"].netns, running.pod.ip
    assert connect(lab, peer_ns, web_ip, 15000).startswith("ERROR")  # admin on the pod's loopback only
    assert connect(lab, peer_ns, web_ip, 8080).startswith("ERROR")  # captured: never the app in plaintext
    assert (
        http_in(lab, running.pod.netns, "http://127.0.0.1:8080/x")[1].strip() == "web ok path=/x"
    )  # it is there


def test_the_app_cannot_bypass_its_sidecar(lab: NetLab, meshed: tuple[Kubelet, RunningPod]) -> None:
    _, running = meshed
    peer_ip = lab.pods["peer"].ip
    assert connect(lab, running.pod.netns, peer_ip, 9090, uid=1337).startswith(
        "PEER"
    )  # reachable as the proxy
    for uid in (0, 1000):  # the app's container runs as root here; any other user too
        assert connect(lab, running.pod.netns, peer_ip, 9090, uid=uid).startswith("ERROR")


def test_drill_capture_rules_missing_fails_readiness_with_a_clear_message(
    lab: NetLab, meshed: tuple[Kubelet, RunningPod]
) -> None:
    kubelet, running = meshed
    proxy = running.containers["smimesh-proxy"]
    assert lab.exec(running.pod.netns, [*SMIMESH, "capture", "--remove"]).returncode == 0
    result = kubelet.probe(running, proxy, "readinessProbe")
    assert result.returncode == 1
    assert "not ready: traffic capture is not in force in this pod" in result.stderr
    assert "smimesh-capture init container did not run or its nat rules were removed" in result.stderr
    kubelet.run_to_completion(running.pod, running.containers["smimesh-capture"])  # the init step again
    assert kubelet.probe(running, proxy, "readinessProbe").returncode == 0


def test_drill_sidecar_killed_fails_closed_and_recovers(
    lab: NetLab, meshed: tuple[Kubelet, RunningPod]
) -> None:
    kubelet, running = meshed
    proxy = running.containers["smimesh-proxy"]
    assert proxy.process is not None
    proxy.process.kill()
    proxy.process.wait(10)
    result = kubelet.probe(running, proxy, "readinessProbe")
    assert result.returncode == 1 and "does not answer" in result.stderr
    assert connect(lab, running.pod.netns, lab.pods["peer"].ip, 9090).startswith(
        "ERROR"
    )  # closed, not bypassed
    kubelet.restart(running, "smimesh-proxy")  # kubelet restarts a native sidecar
    kubelet.wait_started(running, proxy, timeout=30)
    assert kubelet.probe(running, proxy, "readinessProbe").returncode == 0
