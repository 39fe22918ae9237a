"""Paths (a) direct and (b) static Envoy pair: each a context manager yielding a `Target`.

A `Target` is where the load goes (host, port, Host header), the proxy processes whose CPU and RSS
are accounted (role -> pid), and `had`: what the path really carried (mTLS, RBAC, stats, split),
written into the JSON so the report never claims more than was measured.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.dataplane import certs, procs, static_envoy
from bench.dataplane.carried import what_proxies_carry
from smimesh.local.binaries import find_envoy
from smimesh.testing.net import free_port, wait_for_port

BACKEND_SCRIPT = Path(__file__).with_name("backend.py")
START_TIMEOUT_S = 30.0


class PathUnavailable(Exception):
    """This path cannot run here (say why: it goes into the JSON as `skipped`)."""


@dataclass
class Target:
    name: str
    host: str
    port: int
    host_header: str
    proxies: dict[str, int] = field(default_factory=dict)
    had: dict[str, object] = field(default_factory=dict)


def backend_command(port: int) -> list[str]:
    return [sys.executable, str(BACKEND_SCRIPT), "--port", str(port)]


def envoy_command(config: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        str(find_envoy()),
        "-c",
        str(config),
        "--concurrency",
        "1",
        "--use-dynamic-base-id",
        "--log-level",
        "warn",
        *extra,
    ]


@contextmanager
def backend(where: procs.Placement, work: Path) -> Iterator[int]:
    port = free_port()
    process = procs.start(backend_command(port), where.backend, work / f"backend-{port}.log")
    try:
        wait_for_port(port, timeout=START_TIMEOUT_S)
        yield port
    finally:
        procs.stop(process)


@contextmanager
def direct(where: procs.Placement, work: Path) -> Iterator[Target]:
    with backend(where, work) as port:
        yield Target(
            "direct",
            "127.0.0.1",
            port,
            f"127.0.0.1:{port}",
            had={"proxies": 0, "mtls": False, "rbac": False, "stats": False, "split": False},
        )


def _write_config(work: Path, name: str, config: dict[str, object]) -> Path:
    path = work / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def _start_envoys(
    configs: dict[str, dict[str, object]],
    where: procs.Placement,
    work: Path,
    name: str,
    extra: Sequence[str] = (),
) -> dict[str, subprocess.Popen[bytes]]:
    """One pinned Envoy per role (`extra`: more Envoy flags); the caller stops them."""
    return {
        role: procs.start(
            envoy_command(_write_config(work, f"{name}-{role}", config), tuple(extra)),
            where.proxies,
            work / f"{name}-{role}.log",
        )
        for role, config in configs.items()
    }


@contextmanager
def static_split(where: procs.Placement, work: Path) -> Iterator[Target]:
    """The mTLS pair with smimesh-split's 50/50 split: one client Envoy, two server Envoys, two backends.

    The fair reference for `smimesh-split` (the same weighted route and the same three proxies).
    """
    ca, client_leaf, server_leaf = certs.issue_pair()
    name, servers = "static-envoy-mtls-split", ["server:v1", "server:v2"]
    with backend(where, work) as port_v1, backend(where, work) as port_v2:
        ports = {k: free_port() for k in ("client_listen", "client_admin", *servers)}
        configs: dict[str, dict[str, object]] = {
            server: static_envoy.server_bootstrap(
                {"server_listen": ports[server], "server_admin": free_port(), "backend": backend_port},
                ca,
                server_leaf,
            )
            for server, backend_port in zip(servers, (port_v1, port_v2), strict=True)
        }
        configs["client"] = static_envoy.split_client_bootstrap(ports, ca, client_leaf, servers)
        started = _start_envoys(configs, where, work, name)
        try:
            for port in (ports[s] for s in (*servers, "client_listen")):
                wait_for_port(port, timeout=START_TIMEOUT_S)
            admins = [_admin(config) for config in configs.values()]
            had = what_proxies_carry(admins[-1], admins[:-1])
            config = "static bootstrap, inline certificates, TLS 1.3, 50/50 weighted_clusters"
            had |= {"stats": "Envoy defaults", "config": config}
            yield Target(
                name,
                "127.0.0.1",
                ports["client_listen"],
                "backend",
                {role: p.pid for role, p in started.items()},
                had,
            )
        finally:
            for process in started.values():
                procs.stop(process)


def _admin(config: dict[str, Any]) -> str:
    return f"127.0.0.1:{config['admin']['address']['socket_address']['port_value']}"


@contextmanager
def static_pair(where: procs.Placement, work: Path, *, tls: bool = True) -> Iterator[Target]:
    ca, client_leaf, server_leaf = certs.issue_pair()
    name = "static-envoy-mtls" if tls else "static-envoy-plain"
    with backend(where, work) as backend_port:
        ports = {k: free_port() for k in ("client_listen", "client_admin", "server_listen", "server_admin")}
        ports["backend"] = backend_port
        configs: dict[str, dict[str, object]] = {
            "server": static_envoy.server_bootstrap(ports, ca, server_leaf, tls=tls),
            "client": static_envoy.client_bootstrap(ports, ca, client_leaf, tls=tls),
        }
        started = _start_envoys(configs, where, work, name)
        try:
            for role in ("server", "client"):
                wait_for_port(ports[f"{role}_listen"], timeout=START_TIMEOUT_S)
            admins = [f"127.0.0.1:{ports[f'{role}_admin']}" for role in ("client", "server")]
            had = what_proxies_carry(admins[0], admins[1:])
            config = "static bootstrap, inline certificates, TLS 1.3" if tls else "static bootstrap, plain"
            had |= {"stats": "Envoy defaults", "config": config}
            proxies = {role: p.pid for role, p in started.items()}
            yield Target(name, "127.0.0.1", ports["client_listen"], "backend", proxies, had)
        finally:
            for process in started.values():
                procs.stop(process)
