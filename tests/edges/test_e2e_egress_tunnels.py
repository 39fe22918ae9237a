"""Egress through CONNECT tunnels, end to end with real Envoy: HTTPS by host and TCP by IP range and port.

"External" servers run in this test process on loopback addresses, never a real host: HTTPS servers
on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (one self-signed certificate the callers trust, with the SNI
each handshake sent recorded), TCP echo servers on 127.0.0.4 and 127.0.0.9 on one port, on 127.0.0.5
on another, and on [::1]. Egresses allow `https` to 127.0.0.2 and to `*.localhost` (the sidecar
resolves a name under localhost to loopback) on 127.0.0.1's port, `tcp` to 127.0.0.4/30 on the first
echo port, and `tcp` to ::1/128 and 2001:db8:e::/48 on the IPv6 echo port.

A workload (`relay`) reaches `https://127.0.0.2:P/` with its own environment: `HTTPS_PROXY` sends it
through its sidecar as `CONNECT 127.0.0.2:P`. Raw CONNECTs from this process through the client's
sidecar (its HTTP proxy, as an app's own would be) show the rest: the refusal's text, TCP bytes
through a tunnel, and what a mismatched SNI does.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smimesh.testing import manifests, workloads
from smimesh.testing.net import free_port
from smimesh.testing.up import Mesh, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

PY, SERVE = sys.executable, str(workloads.HERE)
HTTPS_HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for HTTPS_HOSTS and external.test (callers trust it as a root)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "external.test")])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.DNSName("external.test"), *(x509.IPAddress(ipaddress.ip_address(h)) for h in HTTPS_HOSTS)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "external.pem", directory / "external-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Https(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        body = f'{{"external": "{server.server_address[0]}", "sni": "{server.last_sni}"}}'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _https_server(host: str, cert: Path, key: Path) -> http.server.ThreadingHTTPServer:
    server: Any = http.server.ThreadingHTTPServer((host, free_port(host)), _Https)
    server.last_sni = None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember(sock: Any, name: str | None, _context: Any) -> None:
        server.last_sni = name

    context.sni_callback = remember
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(1024)
        self.request.sendall(f"{self.server.server_address[0]} echoes ".encode() + data)


def _echo_servers() -> list[socketserver.ThreadingTCPServer]:
    """Echo on 127.0.0.4 and 127.0.0.9 on one port (inside / outside the range), and 127.0.0.5 on another."""
    for _ in range(50):
        port = free_port("127.0.0.4")
        try:
            servers = [socketserver.ThreadingTCPServer((h, port), _Echo) for h in ("127.0.0.4", "127.0.0.9")]
        except OSError:
            continue
        return [*servers, socketserver.ThreadingTCPServer(("127.0.0.5", free_port("127.0.0.5")), _Echo)]
    raise RuntimeError("no port free on both 127.0.0.4 and 127.0.0.9")


class _Echo6(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6


@pytest.fixture(scope="module")
def external(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    cert, key = _certificate(tmp_path_factory.mktemp("external"))
    https = {h: _https_server(h, cert, key) for h in HTTPS_HOSTS}
    echo = [*_echo_servers(), _Echo6(("::1", 0), _Echo)]
    servers: list[Any] = [*https.values(), *echo]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {
            "cert": cert,
            "https": {h: s.server_address[1] for h, s in https.items()},
            "servers": https,
            "echo_port": echo[0].server_address[1],
            "other_port": echo[2].server_address[1],
            "echo6_port": echo[3].server_address[1],
        }
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _world(directory: Path, external: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    allowed = external["https"]["127.0.0.2"]
    relays = {"relay": "127.0.0.2", "relay-refused": "127.0.0.3"}  # the relays run as the client's account
    env = {"SSL_CERT_FILE": str(external["cert"]), "NO_PROXY": "", "no_proxy": ""}
    write(
        directory / "mesh.yaml",
        manifests.documents(
            manifests.idle_client("shop"),
            *(
                manifests.server(
                    name,
                    "shop",
                    account="client",
                    env={"UPSTREAM_URL": f"https://{host}:{external['https'][host]}/", **env},
                )
                for name, host in relays.items()
            ),
            *(manifests.service(name, "shop") for name in relays),
            manifests.everything("shop"),
            manifests.allow("client-to-relays", "shop", "client"),
        )
        + f"""---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {{name: external-tls, namespace: shop}}
spec:
  sources: [{{kind: ServiceAccount, name: client, namespace: shop}}]
  hosts: [127.0.0.2]
  ports: [{{number: {allowed}, protocol: https}}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {{name: external-tcp, namespace: shop}}
spec:
  sources: [{{kind: ServiceAccount, name: client, namespace: shop}}]
  ipAddresses: [127.0.0.4/30]
  ports: [{{number: {external["echo_port"]}, protocol: tcp}}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {{name: external-tcp-v6, namespace: shop}}
spec:
  sources: [{{kind: ServiceAccount, name: client, namespace: shop}}]
  ipAddresses: ["::1/128", "2001:db8:e::/48"]
  ports: [{{number: {external["echo6_port"]}, protocol: tcp}}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {{name: any-localhost-tls, namespace: shop}}
spec:
  sources: [{{kind: ServiceAccount, name: client, namespace: shop}}]
  hosts: ["*.localhost"]
  ports: [{{number: {external["https"]["127.0.0.1"]}, protocol: https}}]
""",
    )


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, external: dict[str, Any]) -> Iterator[tuple[Mesh, Path]]:
    root = tmp_path_factory.mktemp("egress-tunnels")
    _world(root / "mesh", external)
    config = root / "mesh-config.yaml"
    write(config, "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec: {}\n")
    up = Mesh(
        root / "mesh", root / "run", root / "contexts.json", extra_args=["--mesh-config", str(config)]
    ).start()
    try:
        up.wait_ready(expected_instances=3, timeout=120)
        yield up, config
    finally:
        up.stop()


def _connect(up: Mesh, target: str) -> tuple[socket.socket, str]:
    """A CONNECT through the client's sidecar: the open socket and the proxy's whole answer head (+ body)."""
    proxy = urlsplit(up.proxy("client-0"))
    sock = socket.create_connection((str(proxy.hostname), int(proxy.port or 80)), timeout=10)
    sock.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        sock.settimeout(2)
        try:
            while chunk := sock.recv(4096):
                head += chunk
        except OSError:
            pass
    return sock, head.decode(errors="replace")


def _tls_get(sock: socket.socket, sni: str, cert: Path) -> str:
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the point: an SNI that is not the host the tunnel goes to
    with context.wrap_socket(sock, server_hostname=sni) as tls:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
    return data.decode()


def _relay(up: Mesh, service: str) -> Any:
    with httpx.Client(proxy=up.proxy("client-0"), timeout=15) as client:
        return client.get(f"http://{service}.shop/").json()


def test_https_egress_by_host_through_the_workloads_https_proxy(mesh: tuple[Mesh, Path]) -> None:
    up, _ = mesh
    reached = _relay(up, "relay")
    assert reached["upstream"] == {"external": "127.0.0.2", "sni": "None"}, reached  # an IP URL sends no SNI
    refused = _relay(up, "relay-refused")
    assert "403" in str(refused["upstream"]), refused  # urllib: "Tunnel connection failed: 403 Forbidden"


def test_connect_refusals_name_the_mesh_and_sni_never_widens_policy(
    mesh: tuple[Mesh, Path], external: dict[str, Any]
) -> None:
    up, _ = mesh
    allowed, other = (f"{h}:{external['https'][h]}" for h in ("127.0.0.2", "127.0.0.3"))
    sock, head = _connect(up, other)
    sock.close()
    assert head.startswith("HTTP/1.1 403") and "smimesh: no Egress lets this workload" in head, head
    # the tunnel goes where the CONNECT says; an SNI naming another host does not change where it goes
    sock, head = _connect(up, allowed)
    assert head.startswith("HTTP/1.1 200"), head
    answer = _tls_get(sock, "external.test", external["cert"])
    assert '"external": "127.0.0.2", "sni": "external.test"' in answer, answer
    # and naming an allowed host in the SNI opens nothing the CONNECT is not allowed
    sock, head = _connect(up, f"external.test:{external['https']['127.0.0.3']}")
    sock.close()
    assert head.startswith("HTTP/1.1 403"), head


def test_tcp_egress_by_ip_range_and_port(mesh: tuple[Mesh, Path], external: dict[str, Any]) -> None:
    up, _ = mesh
    port, other_port = external["echo_port"], external["other_port"]
    sock, head = _connect(up, f"127.0.0.4:{port}")
    assert head.startswith("HTTP/1.1 200"), head
    sock.sendall(b"ping")
    assert sock.recv(1024) == b"127.0.0.4 echoes ping"
    sock.close()
    for target in (f"127.0.0.9:{port}", f"127.0.0.5:{other_port}", f"localhost:{port}"):
        sock, head = _connect(up, target)  # outside the range; in it on another port; not an address
        sock.close()
        assert head.startswith("HTTP/1.1 403") and "smimesh: no Egress" in head, (target, head)


def test_a_wildcard_https_host_tunnels_to_the_name_it_resolves(
    mesh: tuple[Mesh, Path], external: dict[str, Any]
) -> None:
    up, _ = mesh
    port = external["https"]["127.0.0.1"]
    sock, head = _connect(up, f"api.localhost:{port}")  # *.localhost: resolved by the forward proxy
    assert head.startswith("HTTP/1.1 200"), head
    answer = _tls_get(sock, "api.localhost", external["cert"])
    assert '"external": "127.0.0.1", "sni": "api.localhost"' in answer, answer
    sock, head = _connect(up, f"localhost:{port}")  # the suffix itself is not under the wildcard
    sock.close()
    assert head.startswith("HTTP/1.1 403"), head


def test_tcp_egress_by_ipv6_range_and_port(mesh: tuple[Mesh, Path], external: dict[str, Any]) -> None:
    up, _ = mesh
    port = external["echo6_port"]
    sock, head = _connect(up, f"[::1]:{port}")
    assert head.startswith("HTTP/1.1 200"), head
    sock.sendall(b"ping")
    assert sock.recv(1024) == b"::1 echoes ping"
    sock.close()
    # another spelling of ::1 (matched as text: refused, never widened), another port, outside the ranges
    for target in (f"[0:0:0:0:0:0:0:1]:{port}", f"[::1]:{external['echo_port']}", f"[2001:db8:f::1]:{port}"):
        sock, head = _connect(up, target)
        sock.close()
        assert head.startswith("HTTP/1.1 403") and "smimesh: no Egress" in head, (target, head)


def test_open_egress_opens_any_tunnel_live(mesh: tuple[Mesh, Path], external: dict[str, Any]) -> None:
    up, config = mesh
    target = f"127.0.0.9:{external['echo_port']}"

    def tunnel_opens() -> bool:
        sock, head = _connect(up, target)
        sock.close()
        return head.startswith("HTTP/1.1 200")

    write(
        config,
        "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec: {egress: open}\n",
    )
    try:
        eventually(tunnel_opens, 30, what="CONNECT open", mesh=up)
        assert _relay(up, "relay-refused")["upstream"]["external"] == "127.0.0.3"
    finally:
        write(config, "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec: {}\n")
    eventually(lambda: not tunnel_opens(), 30, what="CONNECT by policy again", mesh=up)
