"""`smimesh status [-o table|json|yaml]`: every instance of the running mesh, its processes and sync state."""

from __future__ import annotations

from typing import Any

import click

from smimesh.cli import security_status
from smimesh.cli._client import client_options, emit, open_client, table


def _process(row: dict[str, Any] | None) -> str:
    if not row:
        return "-"
    pid = f" pid {row['pid']}" if row.get("pid") else ""
    return f"{row['state']}{pid}"


def _restarts(row: dict[str, Any]) -> str:
    sidecar = row.get("sidecar") or {}
    count = f"{row.get('restarts', 0)}/{sidecar.get('restarts', 0)}"
    last = row.get("last_exit") or sidecar.get("last_exit") or ""
    return f"{count} ({last})" if last else count


def instance_rows(status: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            r["namespace"],
            r["instance"],
            _process(r),
            _process(r.get("sidecar")),
            r.get("sync", "?"),
            _restarts(r),
            " ".join(f"{k}={v}" for k, v in (r.get("ports") or {}).items()),
            r.get("admin", ""),
        ]
        for r in status.get("instances", [])
    ]


@click.command("status")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@client_options
def command(output: str, api_addr: str, token: str | None) -> None:
    """Instances of the running mesh: app and sidecar processes, restarts, sidecar sync state.

    RESTARTS is app/sidecar, with the last exit. SYNC is the sidecar's xDS state (SYNCED, STALE,
    NACKED, DISCONNECTED; `smimesh proxy-status` shows the details).

    \b
    Examples:
      smimesh status
      smimesh status -o json
    """
    with open_client(api_addr, token) as client:
        status = client.status()
    if output != "table":
        emit(status, output)
        return
    resources = status.get("resources", {})
    click.echo(
        f"mesh from {status.get('directory', '?')} (pid {status.get('pid', '?')}, "
        f"up {status.get('uptime_s', '?')} s): {resources.get('total', 0)} resources "
        f"({resources.get('from_files', 0)} from files, {resources.get('from_api', 0)} applied)"
    )
    rows = instance_rows(status)
    if not rows:
        click.echo("No workload instances (add a smimesh.io/v1alpha1 Workload to the directory).")
        return
    table(["NAMESPACE", "INSTANCE", "APP", "SIDECAR", "SYNC", "RESTARTS", "APP PORTS", "ADMIN"], rows)
    security_status.show(status.get("security"))
    click.echo(f"logs: {status.get('run_dir', '?')}/logs  (smimesh logs INSTANCE [--sidecar] [-f])")
