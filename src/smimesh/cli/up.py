"""`smimesh up DIR`: run a mesh on this machine from a directory of manifests; edits apply live."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console as RichConsole
from rich.markup import escape

from smimesh.cli import security_status
from smimesh.diagnostics import Diagnostic, Severity
from smimesh.errors import UsageError
from smimesh.runtime.app import Console, MeshApp, UpConfig
from smimesh.runtime.lifetime import serve
from smimesh.settings import from_environment

_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def rich_console(stderr: RichConsole) -> Console:
    """Lines and diagnostics for the terminal (diagnostics on stderr, with file:line first)."""

    def say(text: str) -> None:
        stderr.print(escape(text), highlight=False, soft_wrap=True)

    def diagnostics(items: Sequence[Diagnostic]) -> None:
        for item in items:
            head, *rest = item.format().splitlines()
            style = _SEVERITY_STYLE.get(item.severity, "")
            stderr.print(
                f"[{style}]{escape(head)}[/]" if style else escape(head), highlight=False, soft_wrap=True
            )
            for line in rest:
                stderr.print(escape(line), highlight=False, soft_wrap=True)

    return Console(say=say, diagnostics=diagnostics)


def summary_lines(app: MeshApp, synced: bool) -> list[str]:
    """The short "mesh is up" text: what runs, where the API and the logs are, what to run next."""
    rows = app.status()["instances"]
    workloads = sorted({(r["namespace"], r["workload"]) for r in rows})
    state = "all sidecars in sync" if synced else "some sidecars not in sync yet (see `smimesh status`)"
    lines = [f"mesh is up: {len(workloads)} workloads, {len(rows)} instances, {state}"]
    security = app.status().get("security")
    if security:
        lines.append(security_status.mode_line(security))
    if not rows:
        lines.append(
            "  (no Workload in the directory: add a smimesh.io/v1alpha1 Workload and save, it starts at once)"
        )
    for namespace, workload in workloads:
        count = sum(1 for r in rows if r["workload"] == workload and r["namespace"] == namespace)
        lines.append(f"  {namespace}/{workload}: {count} instance{'s' if count != 1 else ''}")
    run_dir = app.run_dir.path
    lines += [
        f"API      http://{app.api_address}  (write token: {run_dir / 'token'})",
        f"logs     {run_dir / 'logs'}/<namespace>/<instance>.log  (and .envoy.log for the sidecar)",
        f"watching {app.config.directory.resolve()}: a saved edit is live within a second",
        "next     smimesh status | smimesh logs WORKLOAD -f | smimesh get ts | smimesh proxy-status",
        "Ctrl-C stops everything (workloads, sidecars, control plane)",
    ]
    return lines


async def run_up(config: UpConfig, console: Console) -> None:
    async def report_ready(app: MeshApp) -> None:
        synced = await app.wait_synced(10.0)
        for line in summary_lines(app, synced):
            console.say(line)
        await asyncio.Event().wait()  # keep running until interrupted

    await serve(config, console, while_running=report_ready)


def check_addr(addr: str) -> None:
    """A usage error (exit 2) for an address that is not HOST:PORT."""
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"invalid address {addr!r}", hint="write HOST:PORT, e.g. 127.0.0.1:15080")


@click.command("up")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--api-addr", default="127.0.0.1:15080", show_default=True, help="where the HTTP API listens")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="token, logs, applied resources  [default: DIRECTORY/.smimesh]",
)
@click.option(
    "--xds-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="port of the xDS (ADS) server; 0 picks a free one",
)
@click.option(
    "--mesh-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="SMIMESH_MESH_CONFIG",
    default=None,
    help="MeshConfig file: traffic policy (smi|open), mTLS (strict|permissive), audit per namespace "
    "[default: smi + strict everywhere; $SMIMESH_MESH_CONFIG]",
)
def command(
    directory: Path, api_addr: str, run_dir: Path | None, xds_port: int, mesh_config: Path | None
) -> None:
    """Run a mesh on this machine from the manifests in DIRECTORY.

    Loads every manifest (SMI kinds, v1 Service, smimesh.io/v1alpha1 Workload), starts every
    Workload instance with an Envoy sidecar, serves the HTTP API, and watches DIRECTORY: a saved
    edit is live within a second. Problems are printed with file:line; valid objects still run.

    \b
    Each workload process gets (the workload contract):
      HOST, PORT (and PORT_<NAME> per named port)   where to listen
      HTTP_PROXY / http_proxy                       its sidecar: call http://SERVICE.NAMESPACE/
      SMIMESH_TCP_<SERVICE>_<NAMESPACE>_<PORT>      local port of each non-HTTP service port
      WORKLOAD_NAME, POD_NAME, POD_NAMESPACE, SERVICE_ACCOUNT

    \b
    Where things live (DIRECTORY/.smimesh unless --run-dir):
      token                         API write token (mode 0600)
      logs/<ns>/<instance>.log      a workload's output (.envoy.log: its sidecar's)
      applied.sqlite3               resources applied with `smimesh apply` (kept across restarts)

    \b
    Examples:
      smimesh up ./mesh
      smimesh up ./mesh --api-addr 127.0.0.1:0 --run-dir /tmp/mesh-run
    """
    check_addr(api_addr)  # a typo fails here, before anything starts
    settings = from_environment().with_overrides(api_addr=api_addr, run_dir=run_dir)
    config = UpConfig(
        directory=directory,
        run_dir=run_dir,
        api_addr=api_addr,
        xds_port=xds_port,
        settings=settings,
        mesh_config=mesh_config,
    )
    console = rich_console(RichConsole(stderr=True))
    asyncio.run(run_up(config, console))
