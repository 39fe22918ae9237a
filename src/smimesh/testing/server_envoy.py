"""A real Envoy for the server tests: hand-written ADS bootstrap, admin on loopback, started and
stopped around a test; plus a tiny threaded HTTP backend and a non-blocking HTTP getter (the ADS
server runs on the test's event loop, so nothing here may block it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from smimesh.local.binaries import find_envoy
from smimesh.testing.net import free_port

BOOTSTRAP = """
node: {{id: {node_id}, cluster: test}}
admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}}}
dynamic_resources:
  ads_config:
    api_type: {api_type}
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services: [{{envoy_grpc: {{cluster_name: xds}}}}]
  cds_config: {{ads: {{}}, resource_api_version: V3}}
  lds_config: {{ads: {{}}, resource_api_version: V3}}
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: xds
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {xds_port}}}}}}}
"""


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the backend\n"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def backend() -> Iterator[int]:
    """A threaded HTTP server on 127.0.0.1 answering 200 to every GET; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


async def get(url: str) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_get, url)


class Envoy:
    def __init__(self, node_id: str, xds_port: int, *, delta: bool) -> None:
        self.admin_port = free_port()
        self.config = BOOTSTRAP.format(
            node_id=node_id,
            admin_port=self.admin_port,
            xds_port=xds_port,
            api_type="DELTA_GRPC" if delta else "GRPC",
        )
        self.process: asyncio.subprocess.Process | None = None

    async def config_dump(self) -> dict[str, Any]:
        _, _, body = await get(f"http://127.0.0.1:{self.admin_port}/config_dump?include_eds")
        return dict(json.loads(body))

    async def stats(self, prefix: str) -> dict[str, int]:
        _, _, body = await get(f"http://127.0.0.1:{self.admin_port}/stats?filter={prefix}")
        pairs = (line.split(": ", 1) for line in body.decode().splitlines() if ": " in line)
        return {name: int(value) for name, value in pairs if value.strip().isdigit()}


@contextlib.asynccontextmanager
async def running_envoy(node_id: str, xds_port: int, *, delta: bool) -> AsyncIterator[Envoy]:
    envoy = Envoy(node_id, xds_port, delta=delta)
    argv = [str(find_envoy()), "--config-yaml", envoy.config, "--use-dynamic-base-id", "-l", "warning"]
    envoy.process = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL)
    try:
        yield envoy
    finally:
        if envoy.process.returncode is None:
            envoy.process.terminate()
            try:
                await asyncio.wait_for(envoy.process.wait(), 10)
            except TimeoutError:
                envoy.process.kill()
                await envoy.process.wait()
