"""Static Envoy configs that use xds.secrets' TLS contexts, and a way to run Envoy for a test.

Secrets are static (`static_resources.secrets`, named exactly as SDS will name them), so the TLS
contexts built with `via_ads=False` are the very same protos the control plane will serve, minus
the SDS source. Envoy runs as a real process on loopback with dynamic ports and is always killed.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from smimesh.identity import IdentityBundle
from smimesh.local.binaries import find_envoy
from smimesh.testing.net import free_port, wait_for_port
from smimesh.xds import secrets

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HTTP_OPTIONS_NAME = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HTTP_OPTIONS = "type.googleapis.com/" + HTTP_OPTIONS_NAME


class _Backend(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the bookstore backend"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def http_backend() -> Iterator[int]:
    """A tiny HTTP server on a free loopback port (in a thread of the test process); yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def as_json(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data


def static_secrets(bundle: IdentityBundle) -> list[dict[str, Any]]:
    return [as_json(s) for s in secrets.secrets_for(bundle)]


def cluster(
    name: str, port: int, tls: Any = None, *, one_request_per_connection: bool = False
) -> dict[str, Any]:
    """A static cluster of one loopback endpoint; with `one_request_per_connection` every request makes a
    new connection (so a new TLS handshake: what shows a rotated certificate at once)."""
    config: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}
                            }
                        }
                    ]
                }
            ],
        },
    }
    if tls is not None:
        config["transport_socket"] = as_json(secrets.transport_socket(tls))
    if one_request_per_connection:
        config["typed_extension_protocol_options"] = {
            HTTP_OPTIONS_NAME: {
                "@type": HTTP_OPTIONS,
                "common_http_protocol_options": {"max_requests_per_connection": 1},
                "explicit_http_config": {"http_protocol_options": {}},
            }
        }
    return config


def http_listener(name: str, port: int, routes: Sequence[tuple[str, str]], tls: Any = None) -> dict[str, Any]:
    """An HTTP listener routing path prefixes to clusters; echoes the peer certificate's URI SAN, serial
    and issuer in response headers (what the tests observe mTLS by)."""
    hcm = {
        "@type": HCM,
        "stat_prefix": name,
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {"match": {"prefix": prefix}, "route": {"cluster": cluster_name}}
                        for prefix, cluster_name in routes
                    ],
                    "response_headers_to_add": [
                        {"header": {"key": "x-peer-identity", "value": "%DOWNSTREAM_PEER_URI_SAN%"}},
                        {"header": {"key": "x-peer-serial", "value": "%DOWNSTREAM_PEER_SERIAL%"}},
                        {"header": {"key": "x-peer-issuer", "value": "%DOWNSTREAM_PEER_ISSUER%"}},
                    ],
                }
            ]
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }
    chain: dict[str, Any] = {
        "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]
    }
    if tls is not None:
        chain["transport_socket"] = as_json(secrets.transport_socket(tls))
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [chain],
    }


def bootstrap(
    listeners: list[dict[str, Any]],
    clusters: list[dict[str, Any]],
    secret_list: list[dict[str, Any]],
    admin_port: int,
) -> dict[str, Any]:
    return {
        "node": {"id": "identity-test", "cluster": "identity-test"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": listeners, "clusters": clusters, "secrets": secret_list},
    }


def validate(config: dict[str, Any], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run `envoy --mode validate` on the config; returns the finished process (check returncode)."""
    path = workdir / f"validate-{free_port()}.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [str(find_envoy()), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def running_envoy(
    config: dict[str, Any], workdir: Path, name: str, wait_ports: Sequence[int], log_level: str = "warning"
) -> Iterator[None]:
    """Start Envoy with `config`, wait until `wait_ports` accept, and always kill it afterwards."""
    config_path, log_path = workdir / f"{name}.json", workdir / f"{name}.log"
    config_path.write_text(json.dumps(config))
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                str(find_envoy()),
                "-c",
                str(config_path),
                "--use-dynamic-base-id",
                "--concurrency",
                "1",
                "--log-level",
                log_level,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for port in wait_ports:
            try:
                wait_for_port(port, timeout=30)
            except TimeoutError:
                raise AssertionError(f"envoy {name} did not start:\n{log_path.read_text()[-3000:]}") from None
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


def tls_get(port: int, trusted_pem: bytes, workdir: Path, client: tuple[bytes, bytes] | None) -> int | str:
    """GET over TLS straight to an Envoy listener, presenting `client` = (chain PEM, key PEM) or nothing.

    Verifies the server against `trusted_pem` only (so the server must send its intermediates).
    Returns the HTTP status, or a string starting with "refused" saying why there was none.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # sidecars are named by SPIFFE id, not DNS
    context.load_verify_locations(cadata=trusted_pem.decode())
    if client is not None:
        cert, key = workdir / f"client-{free_port()}.crt", workdir / f"client-{free_port()}.key"
        cert.write_bytes(client[0])  # test-only: Python's ssl loads client certificates from files
        key.write_bytes(client[1])
        context.load_cert_chain(cert, key)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(b"GET / HTTP/1.1\r\nHost: bookstore\r\nConnection: close\r\n\r\n")
            reply = tls.recv(4096)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as exc:
        return f"refused: {exc}"
    return int(reply.split()[1]) if reply.startswith(b"HTTP/1.1") else f"refused: no HTTP reply {reply!r}"
