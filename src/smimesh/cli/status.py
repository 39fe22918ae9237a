"""`smimesh status [-o table|json|yaml]`: every instance of the running mesh, its processes and sync state.

With `--kubeconfig`/`--context`: the cluster controller replica that answered (role, informers,
the sidecars connected to it), `show_controller`."""

from __future__ import annotations

from typing import Any

import click

from smimesh.cli import delivery, numbers, security_status
from smimesh.cli._client import client_options, emit, open_client, table
from smimesh.cli._cluster import cluster_options


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


READY_TEXT = "all ready (every instance serves and its callers' sidecars hold its endpoint)"


def _ready(row: dict[str, Any]) -> str:
    if "ready" not in row:
        return "?"
    return "yes" if row["ready"] else "no"


def not_ready_lines(status: dict[str, Any]) -> list[str]:
    """Why each instance that is not ready is not (the app, its sidecar, or its callers' sidecars)."""
    rows = [r for r in status.get("instances", []) if r.get("ready") is False]
    return [f"  {r['namespace']}/{r['instance']}: {r.get('not_ready', '')}" for r in rows]


def instance_rows(status: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            r["namespace"],
            r["instance"],
            _process(r),
            _process(r.get("sidecar")),
            r.get("sync", "?"),
            _ready(r),
            _restarts(r),
            " ".join(f"{k}={v}" for k, v in (r.get("ports") or {}).items()),
            r.get("admin", ""),
        ]
        for r in status.get("instances", [])
    ]


@click.command("status")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@client_options
@cluster_options
def command(output: str, api_addr: str, token: str | None) -> None:
    """Instances of the running mesh: app and sidecar processes, restarts, sidecar sync state.

    RESTARTS is app/sidecar, with the last exit. SYNC is the sidecar's xDS state (SYNCED, STALE,
    NACKED: Envoy refused its config, ERROR: its config could not be generated, DISCONNECTED;
    `smimesh proxy-status` shows the details). READY is yes once traffic to the instance can flow:
    its app and sidecar serve, and every sidecar that sends to it holds (has accepted config with)
    its endpoint; below the table, why each instance that is not ready is not. Under the tables:
    what did not reach the sidecars (refused configs, objects held back) and the `xDS:` summary line.

    \b
    Examples:
      smimesh status
      smimesh status -o json
      smimesh status --kubeconfig ~/.kube/config   # a cluster's controller replica and its sidecars
    """
    with open_client(api_addr, token) as client:
        status = client.status()
    if output != "table":
        emit(status, output)
        return
    if "identity" in status:  # a cluster's controller replica (--kubeconfig / --context)
        show_controller(status)
        return
    resources = status.get("resources", {})
    click.echo(
        f"mesh from {status.get('directory', '?')} (pid {status.get('pid', '?')}, "
        f"up {numbers.duration(status.get('uptime_s'))}): {resources.get('total', 0)} resources "
        f"({resources.get('from_files', 0)} from files, {resources.get('from_api', 0)} applied)"
    )
    rows = instance_rows(status)
    if not rows:
        click.echo("No workload instances (add a smimesh.io/v1alpha1 Workload to the directory).")
        return
    columns = ["NAMESPACE", "INSTANCE", "APP", "SIDECAR", "SYNC", "READY", "RESTARTS", "APP PORTS", "ADMIN"]
    table(columns, rows)
    waiting = not_ready_lines(status)
    click.echo("not ready:" if waiting else READY_TEXT)
    for line in waiting:
        click.echo(line)
    security_status.show(status.get("security"))
    for line in delivery.problem_lines(status.get("delivery")):
        click.echo(line)
    click.echo(delivery.summary_line(status.get("delivery"), status.get("security")))
    click.echo(f"logs: {status.get('run_dir', '?')}/logs  (smimesh logs INSTANCE [--sidecar] [-f])")


def show_controller(status: dict[str, Any]) -> None:
    """A controller replica's view: its role, what it watches, and its sidecars' sync state."""
    role = "leader" if status.get("leader") else "follower"
    synced = "informers synced" if status.get("synced") else "informers NOT synced yet"
    total = (status.get("resources") or {}).get("total", 0)
    click.echo(f"controller {status['identity']} ({role}, {synced}): {total} resources from the cluster")
    proxies = status.get("proxies") or []
    if not proxies:
        click.echo("No sidecar is connected to this replica.")
        return
    table(["PROXY", "SYNC", "STREAMS"], [[p["node_id"], p["status"], p.get("streams", "")] for p in proxies])
    refused = status.get("xds_refusals") or []
    if refused:
        click.echo(f"{len(refused)} xDS connection(s) refused: see the controller log")
