"""A two-sidecar world with the mesh's stat names, built from static Envoy configs.

client (this test) → client sidecar outbound listener (`outbound_http`, cluster
`outbound|shop|store|8080`) → store sidecar inbound listener (`inbound_http`, cluster
`local_app|http`) → a Python backend that answers by path: `/fail` → 500, `/slow50` and
`/slow200` → delayed 200. The names come from `smimesh.xds.names`, exactly as the generators use
them, so the telemetry code reads the same stats it will read from `smimesh up`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from smimesh.local.binaries import find_envoy
from smimesh.mesh.model import ServiceKey
from smimesh.telemetry.collector import Collector
from smimesh.telemetry.edges import Pod, Topology
from smimesh.testing.net import free_port, wait_for_port
from smimesh.xds import names

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
STORE = ServiceKey("shop", "store")
STORE_PORT = 8080
DELAYS = {"/slow50": 0.050, "/slow200": 0.200}


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle + delayed ACK add 40 ms to every response

    def do_GET(self) -> None:
        time.sleep(DELAYS.get(self.path, 0.0))
        status = 500 if self.path == "/fail" else 200
        body = b"fail" if status == 500 else b"ok"
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def static_cluster(name: str, port: int) -> dict[str, Any]:
    endpoint = {"endpoint": {"address": _address(port)}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [endpoint]}]},
    }


def http_listener(name: str, port: int, stat_prefix: str, cluster: str) -> dict[str, Any]:
    route = {"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "5s"}}
    hcm = {
        "@type": HCM,
        "stat_prefix": stat_prefix,
        "route_config": {
            "name": name,
            "virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}],
        },
        "http_filters": [{"name": names.ROUTER_FILTER, "typed_config": {"@type": ROUTER}}],
    }
    chain = {"filters": [{"name": names.HCM_FILTER, "typed_config": hcm}]}
    return {"name": name, "address": _address(port), "filter_chains": [chain]}


def sidecar_config(admin: int, listener: dict[str, Any], cluster: dict[str, Any]) -> dict[str, Any]:
    return {
        "admin": {"address": _address(admin)},
        "stats_flush_interval": "1s",
        "static_resources": {"listeners": [listener], "clusters": [cluster]},
    }


@dataclass
class World:
    outbound_port: int
    client_admin: int
    store_admin: int
    backend_port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.outbound_port}{path}"


@contextmanager
def running_envoy(config: dict[str, Any], workdir: Path, name: str, port: int) -> Iterator[None]:
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
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, timeout=30)
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def backend_server(port: int) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Backend)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def two_sidecars(workdir: Path) -> Iterator[World]:
    """Client sidecar → store sidecar → backend, all on dynamic loopback ports."""
    world = World(free_port(), free_port(), free_port(), free_port())
    inbound_port = free_port()
    store = sidecar_config(
        world.store_admin,
        http_listener(
            names.inbound_listener("http"),
            inbound_port,
            names.inbound_stat_prefix("http"),
            names.inbound_cluster("http"),
        ),
        static_cluster(names.inbound_cluster("http"), world.backend_port),
    )
    outbound = names.outbound_cluster(STORE, STORE_PORT)
    client = sidecar_config(
        world.client_admin,
        http_listener(
            names.OUTBOUND_HTTP_LISTENER, world.outbound_port, names.OUTBOUND_HTTP_STAT_PREFIX, outbound
        ),
        static_cluster(outbound, inbound_port),
    )
    with ExitStack() as stack:
        stack.enter_context(backend_server(world.backend_port))
        stack.enter_context(running_envoy(store, workdir, "store", inbound_port))
        stack.enter_context(running_envoy(client, workdir, "client", world.outbound_port))
        yield world


def world_topology(world: World) -> Topology:
    client = Pod("client-0.shop", "shop", "client-0", "client", {"app": "client"}, world.client_admin)
    store = Pod("store-0.shop", "shop", "store-0", "store", {"app": "store"}, world.store_admin)
    return Topology({p.node_id: p for p in (client, store)}, {STORE: frozenset({store.node_id})})


def scrape(collector: Collector) -> None:
    async def one_round() -> None:
        async with httpx.AsyncClient() as client:
            await collector.scrape_round(client)

    asyncio.run(one_round())
