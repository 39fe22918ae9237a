"""`smimesh sidecar` (the sidecar container's entrypoint) and `smimesh sidecar-ready` (its probe).

`sidecar` reads the pod's identity from the environment the injection set (POD_NAME, POD_NAMESPACE,
SERVICE_ACCOUNT, SMIMESH_APP_PROBES) and the projected token, writes the bootstrap 0600 into the
in-memory bootstrap volume (never on the command line: /proc/<pid>/cmdline is readable by every user)
and replaces itself with Envoy. `sidecar-ready` exits 0 when Envoy is ready and capture is in force,
else 1 with each problem on stderr (kubelet shows it in the pod's events).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import click

from smimesh.errors import SmimeshError, UsageError
from smimesh.pods import layout as lay

DEFAULTS = lay.PodLayout()


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--xds-address: expected HOST:PORT, found {address!r}")
    return host.strip("[]"), int(port)


def _resolve(host: str, port: int) -> str:
    """The control plane's address as an IP (the bootstrap's cluster is STATIC; a Service IP is stable)."""
    try:
        return str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
    except OSError as exc:
        raise SmimeshError(
            f"cannot resolve the control plane {host}: {exc}", hint="check --xds-address"
        ) from None


@click.command("sidecar")
@click.option("--xds-address", required=True, metavar="HOST:PORT", help="The control plane's xDS address.")
@click.option("--admin-port", type=int, default=DEFAULTS.admin_port, show_default=True)
@click.option("--outbound-port", type=int, default=DEFAULTS.outbound_port, show_default=True)
@click.option("--inbound-port", type=int, default=DEFAULTS.inbound_port, show_default=True)
@click.option("--health-port", type=int, default=DEFAULTS.health_port, show_default=True)
@click.option("--concurrency", type=int, default=2, show_default=True)
@click.option("--token-file", default=f"{lay.TOKEN_DIR}/token", show_default=True)
@click.option("--bootstrap-dir", default=lay.BOOTSTRAP_DIR, show_default=True)
@click.option("--envoy", default="", help="Envoy binary (default: the one installed with smimesh).")
def command(
    xds_address: str,
    admin_port: int,
    outbound_port: int,
    inbound_port: int,
    health_port: int,
    concurrency: int,
    token_file: str,
    bootstrap_dir: str,
    envoy: str,
) -> None:
    """Run the pod's Envoy sidecar (the injected `smimesh-proxy` container's entrypoint)."""
    from smimesh.local.binaries import find_envoy
    from smimesh.pods.sidecar import PodIdentity, pod_bootstrap

    layout = lay.PodLayout(
        outbound_port=outbound_port, inbound_port=inbound_port, admin_port=admin_port, health_port=health_port
    )
    try:
        token = Path(token_file).read_text().strip()
        pod = PodIdentity.from_environment(os.environ, token)
    except (OSError, KeyError, ValueError) as exc:
        raise SmimeshError(
            f"the pod's identity is incomplete: {exc}", hint="run in an injected pod (smimesh inject)"
        ) from None
    host, port = _split_address(xds_address)
    path = Path(bootstrap_dir) / "envoy.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(pod_bootstrap(pod, layout, _resolve(host, port), port), handle)
    binary = envoy or str(find_envoy())
    argv = [
        binary,
        "-c",
        str(path),
        "--concurrency",
        str(concurrency),
        "--log-level",
        "warning",
        "--drain-time-s",
        "1",
    ]
    os.execv(binary, argv)


@click.command("sidecar-ready")
@click.option("--admin-port", type=int, default=DEFAULTS.admin_port, show_default=True)
def ready(admin_port: int) -> None:
    """Exit 0 when the sidecar is ready and traffic capture is in force; else 1, saying why."""
    from smimesh.pods.ready import problems

    found = problems(admin_port)
    for problem in found:
        click.echo(f"not ready: {problem}", err=True)
    if not found:
        click.echo("ready: Envoy has its config and traffic capture is in force")
    raise SystemExit(1 if found else 0)
