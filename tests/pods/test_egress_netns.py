"""Egress policy for a meshed pod, in network namespaces with real Envoy and real capture.

Pod `web` is injected and run by the test kit's kubelet; its sidecar gets the config smimesh generates
for it (`smimesh.testing.mesh_xds`, the egress world of `egress_world.py`) from the node namespace.
"External" servers run in two other namespaces of the lab (198.18.0.3 `EXT`, 198.18.0.4 `OTHER`),
never a real host; the pod's hosts file names them. What the app sees is asserted: HTTP by Host
(allowed host and wildcard reached, another host on the same address 403 naming the mesh, a host
narrowed to an HTTPRouteGroup's matches 403 outside them, open or not), TLS by
SNI (allowed name and wildcard reached, another SNI to the same server closed), TCP by address and
port, then `egress: open` switched live (everything reached) and back to `policy`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.pods.egress_world import EGRESS_YAML
from tests.pods.netlab_kit import lab, needs_root
from tests.pods.test_kubelet_netns import XDS_PORT, from_node, web_pod

from smimesh.pods.inject import InjectConfig, inject_object
from smimesh.testing.kubelet import Kubelet, RunningPod
from smimesh.testing.net import wait_until
from smimesh.testing.netns import NODE_IP, NetLab
from smimesh.testing.pod_world import APP, PROBE

__all__ = ["lab"]
pytestmark = [needs_root, pytest.mark.envoy, pytest.mark.slow]
EXT, OTHER = "198.18.0.3", "198.18.0.4"
XDS = [sys.executable, "-m", "smimesh.testing.mesh_xds"]
NAMES = {
    EXT: "api.example.com a.wild.example other.example.com narrow.example.com",
    OTHER: "elsewhere.example.com",
}
GET = (
    "import sys, urllib.request, urllib.error\ntry:\n"
    " r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status, r.read().decode().strip())\n"
    "except urllib.error.HTTPError as e:\n print(e.code, e.read().decode().strip())\n"
    "except OSError as e:\n print(0, e)"
)


def external_servers(lab: NetLab, netns: str, label: str) -> None:
    lab.run(netns, [sys.executable, "-c", APP], env={"APP_NAME": label, "PATH": "/usr/bin:/bin"})
    for mode, port in (("tls-serve", 8443), ("echo", 9000)):
        server = lab.run(netns, [*PROBE, mode, str(port), label], stdout=subprocess.PIPE)
        assert server.stdout is not None and server.stdout.readline().strip() == b"listening"


class App:
    """Commands run in the app container of the pod (its hosts file, its UID: captured)."""

    def __init__(self, kubelet: Kubelet, running: RunningPod) -> None:
        self.kubelet, self.running = kubelet, running

    def run(self, *argv: str) -> str:
        container = self.running.containers["web"]
        argv_in = self.kubelet.argv(container, list(argv))
        return self.kubelet.lab.exec(self.running.pod.netns, argv_in).stdout.strip()

    def get(self, url: str) -> str:
        return self.run(sys.executable, "-c", GET, url)

    def tls(self, host: str, sni: str) -> str:
        return self.run(*PROBE, "tls-ask", host, "8443", sni)

    def tcp(self, host: str) -> str:
        return self.run(*PROBE, "ask", host, "9000", "hello")


@pytest.fixture
def pod(lab: NetLab, tmp_path: Path) -> tuple[App, subprocess.Popen[bytes]]:
    web, ext, other = lab.add_pod("web"), lab.add_pod("ext"), lab.add_pod("other")
    assert (web.ip, ext.ip, other.ip) == ("198.18.0.2", EXT, OTHER)
    external_servers(lab, ext.netns, "EXT")
    external_servers(lab, other.netns, "OTHER")
    manifests = tmp_path / "egress.yaml"
    manifests.write_text(EGRESS_YAML)
    plane = lab.run(
        lab.node,
        [*XDS, f"{NODE_IP}:{XDS_PORT}", str(manifests), f"shop/web-0/web/{web.ip}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert plane.stdout is not None and plane.stdout.readline().strip() == b"serving"
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + "".join(f"{ip} {names}\n" for ip, names in NAMES.items()))
    kubelet = Kubelet(lab, tmp_path, hosts_file=hosts)
    injected = inject_object(web_pod(), InjectConfig(xds_address=f"{NODE_IP}:{XDS_PORT}", concurrency=1)).obj
    running = kubelet.start(injected, web, token="token-of-web-0")
    wait_until(
        lambda: from_node(lab, f"http://{web.ip}:15020/app-health/web/readiness")[0] == 200,
        timeout=30,
        what="app up",
    )
    return App(kubelet, running), plane


def switch(plane: subprocess.Popen[bytes], mode: str) -> None:
    assert plane.stdin is not None and plane.stdout is not None
    plane.stdin.write(f"{mode}\n".encode())
    plane.stdin.flush()
    assert plane.stdout.readline().strip() == f"switched {mode}".encode()


def by_policy(app: App) -> None:
    """What the Egresses allow is reached, and nothing else."""
    wait_until(
        lambda: app.get("http://api.example.com:8080/x") == "200 EXT ok path=/x", timeout=60, what="policy"
    )
    assert app.get("http://a.wild.example:8080/w") == "200 EXT ok path=/w"  # *.wild.example
    narrowed(app)
    refused = app.get("http://other.example.com:8080/x")  # same server, a Host no Egress names
    assert refused.startswith("403 smimesh: no Egress lets this workload's ServiceAccount call this host")
    assert "egress is by policy" in refused
    assert app.get(f"http://{EXT}:8081/").startswith("403 smimesh:")  # a port no Egress names
    assert app.tls(EXT, "api.secure.example") == "EXT tls sni=api.secure.example"
    assert app.tls(EXT, "b.tls.example") == "EXT tls sni=b.tls.example"  # *.tls.example
    assert app.tls(EXT, "evil.example").startswith("ERROR")  # same server, an SNI no Egress names
    assert app.tcp(EXT) == "EXT got hello"  # 198.18.0.3/32 port 9000
    assert app.tcp(OTHER).startswith("ERROR")  # outside the range


def narrowed(app: App) -> None:
    """An Egress naming an HTTPRouteGroup: its host only for those matches, by policy and open alike."""
    assert app.get("http://narrow.example.com:8080/allowed") == "200 EXT ok path=/allowed"
    denied = app.get("http://narrow.example.com:8080/secret")
    assert denied.startswith("403 smimesh: Egress/shop/web-narrow does not allow this request"), denied


def test_a_pods_egress_obeys_policy_and_the_live_switch(
    lab: NetLab, pod: tuple[App, subprocess.Popen[bytes]]
) -> None:
    app, plane = pod
    by_policy(app)
    switch(plane, "open")
    wait_until(
        lambda: app.get("http://other.example.com:8080/o") == "200 EXT ok path=/o", timeout=60, what="open"
    )
    assert app.get("http://elsewhere.example.com:8080/") == "200 OTHER ok path=/"
    assert app.tls(EXT, "evil.example") == "EXT tls sni=evil.example"
    assert app.tcp(OTHER) == "OTHER got hello"
    narrowed(app)
    switch(plane, "policy")
    wait_until(lambda: app.tcp(OTHER).startswith("ERROR"), timeout=60, what="policy again")
    by_policy(app)
