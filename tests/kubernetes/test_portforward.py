"""`pods/portforward` over WebSocket: the test API server frames it as the kubelet does, refuses as
kube-apiserver does, and smimesh's client (`sources/kubernetes/portforward.py`) reads through it.
(The end-to-end use, `proxy-config` and `explain --live` on real sidecars: test_cluster_cli.py.)"""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from smimesh.cli._cluster_sidecars import PodSidecars
from smimesh.errors import SmimeshError
from smimesh.sources.kubernetes.cluster import ADMIN_PORT, INJECTED
from smimesh.sources.kubernetes.kubeconfig import load_cluster
from smimesh.sources.kubernetes.portforward import admin_get, status_message
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.net import free_port

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "default"},
    "spec": {"containers": [{"name": "app"}]},
}


class _Echo(socketserver.BaseRequestHandler):
    """Answers each chunk with its name and the chunk (so a test sees which port answered)."""

    def handle(self) -> None:
        while chunk := self.request.recv(4096):
            if chunk.startswith(b"GET "):
                body = b"hello from the pod"
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                self.request.sendall(head.encode() + body)
                return
            self.request.sendall(self.server.name + b":" + chunk)  # type: ignore[attr-defined]


def _echo(name: bytes) -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    server.name = name  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    with KubeApiServer() as server:
        server.create(POD)
        yield server


@pytest.fixture
def first() -> Iterator[int]:
    yield from _echo(b"first")


@pytest.fixture
def second() -> Iterator[int]:
    yield from _echo(b"second")


def _url(api: KubeApiServer, query: str, pod: str = "web-0") -> str:
    return f"ws://127.0.0.1:{api.port}/api/v1/namespaces/default/pods/{pod}/portforward{query}"


def test_each_port_gets_a_data_and_an_error_channel_opened_with_its_number(
    api: KubeApiServer, first: int, second: int
) -> None:
    url = _url(api, f"?ports={first}&ports={second}")
    with connect(url, subprotocols=["v4.channel.k8s.io"], proxy=None) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "v4.channel.k8s.io"
        opening = [ws.recv(timeout=10) for _ in range(4)]
        assert opening == [
            bytes([0]) + first.to_bytes(2, "little"),
            bytes([1]) + first.to_bytes(2, "little"),
            bytes([2]) + second.to_bytes(2, "little"),
            bytes([3]) + second.to_bytes(2, "little"),
        ]
        ws.send(bytes([2]) + b"ping")
        assert ws.recv(timeout=10) == bytes([2]) + b"second:ping"
        ws.send(bytes([0]) + b"pong")
        assert ws.recv(timeout=10) == bytes([0]) + b"first:pong"


def test_the_older_subprotocol_is_served_too(api: KubeApiServer, first: int) -> None:
    with connect(_url(api, f"?ports={first}"), subprotocols=["portforward.k8s.io"], proxy=None) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "portforward.k8s.io"


def _refused(url: str, token: str = "") -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with pytest.raises(InvalidStatus) as refused:
        connect(url, subprotocols=["v4.channel.k8s.io"], additional_headers=headers, proxy=None)  # type: ignore[list-item]
    return refused.value.response.status_code, json.loads(refused.value.response.body or b"{}")


def test_refusals_are_status_answers_before_the_upgrade(api: KubeApiServer, first: int) -> None:
    code, status = _refused(_url(api, ""))
    assert (code, status["reason"]) == (400, "BadRequest") and "ports" in status["message"]
    code, status = _refused(_url(api, f"?ports={first}", pod="nope"))
    assert (code, status["message"]) == (404, 'pods "nope" not found')
    api.restrict_user("t", "alice", ["get pods"])
    code, status = _refused(_url(api, f"?ports={first}"), token="t")
    assert code == 403 and status["message"] == (
        'pods "web-0" is forbidden: User "alice" cannot create resource "pods/portforward" '
        'in API group "" in the namespace "default"'
    )
    with api.client() as client:  # the same user may read the pod, not list them; no upgrade is a 400
        assert client.get(
            "/api/v1/namespaces/default/pods/web-0", headers={"Authorization": "Bearer t"}
        ).is_success
        assert (
            client.get("/api/v1/namespaces/default/pods", headers={"Authorization": "Bearer t"}).status_code
            == 403
        )
        plain = client.get(f"/api/v1/namespaces/default/pods/web-0/portforward?ports={first}")
        assert (plain.status_code, plain.json()["message"]) == (400, "Upgrade request required")


def test_the_client_gets_an_answer_or_a_clear_error(api: KubeApiServer, first: int, tmp_path: Path) -> None:
    cluster = load_cluster(api.write_kubeconfig(tmp_path / "kubeconfig"))
    answer = admin_get(cluster, "default", "web-0", first, "/config_dump")
    assert (answer.status, answer.body) == (200, b"hello from the pod")
    closed = free_port()
    with pytest.raises(SmimeshError, match=f"failed to connect to localhost:{closed}"):
        admin_get(cluster, "default", "web-0", closed, "/config_dump")
    with pytest.raises(SmimeshError, match='404: pods "nope" not found') as missing:
        admin_get(cluster, "default", "nope", first, "/")
    assert "kubectl get pods" in missing.value.hint


class _Admin(http.server.BaseHTTPRequestHandler):
    """A sidecar's admin answering `/config_dump` with one listener and one route section, counting reads."""

    def do_GET(self) -> None:
        self.server.reads.append(self.path)  # type: ignore[attr-defined]
        body = json.dumps({"configs": [{"@type": f"type.googleapis.com/x.{t}"} for t in SECTIONS]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


SECTIONS = ("ListenersConfigDump", "RoutesConfigDump")


@pytest.fixture
def admin() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Admin)
    server.daemon_threads = True
    server.reads = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _annotated(port: object) -> dict:
    return {**POD, "metadata": {**POD["metadata"], "name": "web-1", "annotations": {ADMIN_PORT: str(port)}}}


def test_a_pods_config_dump_is_read_once_for_several_types(
    api: KubeApiServer, admin: http.server.ThreadingHTTPServer, tmp_path: Path
) -> None:
    api.create(_annotated(admin.server_address[1]))
    sidecars = PodSidecars(load_cluster(api.write_kubeconfig(tmp_path / "kubeconfig")))
    listeners = sidecars.config("web-1.default", "listeners")["config"]["configs"]
    routes = sidecars.config("web-1.default", "routes")["config"]["configs"]
    assert [c["@type"] for c in listeners + routes] == [f"type.googleapis.com/x.{t}" for t in SECTIONS]
    assert admin.reads == ["/config_dump?include_eds"]  # explain --live asks for both: one port-forward


def test_a_bad_admin_port_annotation_is_a_clear_error(api: KubeApiServer, tmp_path: Path) -> None:
    api.create(_annotated("admin"))
    sidecars = PodSidecars(load_cluster(api.write_kubeconfig(tmp_path / "kubeconfig")))
    with pytest.raises(SmimeshError, match=f"pod default/web-1: annotation {ADMIN_PORT} is 'admin'"):
        sidecars.config("web-1.default", "listeners")


def test_an_injected_pods_admin_is_the_layouts_whatever_the_stats_annotation(
    api: KubeApiServer, tmp_path: Path
) -> None:
    # On an injected pod `smimesh.io/admin-port` is where the control plane reads stats (the health
    # port); the admin the port-forward must reach is Envoy's, on the pod's loopback.
    pod = _annotated(15020)
    pod["metadata"]["annotations"][INJECTED] = "true"
    api.create(pod)
    plain = _annotated(15123)
    plain["metadata"]["name"] = "web-2"
    api.create(plain)
    sidecars = PodSidecars(load_cluster(api.write_kubeconfig(tmp_path / "kubeconfig")))
    assert sidecars.admin_port("default", "web-1") == 15000
    assert sidecars.admin_port("default", "web-2") == 15123


def test_an_error_answer_that_is_not_a_status_is_shown_as_its_text() -> None:
    assert status_message(403, b'{"kind": "Status", "message": "pods is forbidden"}') == "pods is forbidden"
    assert status_message(502, b'["bad gateway"]') == '["bad gateway"]'  # was an AttributeError traceback
    assert status_message(502, b"<html>bad gateway</html>\n") == "<html>bad gateway</html>"
    assert status_message(503, b"") == "HTTP 503"


def test_an_injected_fault_answers_the_port_forward_too(
    api: KubeApiServer, first: int, tmp_path: Path
) -> None:
    cluster = load_cluster(api.write_kubeconfig(tmp_path / "kubeconfig"))
    api.faults["/portforward"] = 503
    with pytest.raises(SmimeshError, match="the API server answered 503: injected fault for /portforward"):
        admin_get(cluster, "default", "web-0", first, "/")
