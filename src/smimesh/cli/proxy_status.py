"""`smimesh proxy-status [-o json|yaml]`: is every sidecar in sync with the control plane?

Per sidecar: SYNCED (every type acked at the version sent), STALE (a newer version sent, not yet
acked), NACKED (Envoy refused a config: its error, how often and whether it is resent are printed
under the table), ERROR (the control plane could not generate its config), DISCONNECTED. Objects
held back because their config cannot be generated are listed last.
"""

from __future__ import annotations

from typing import Any

import click

from smimesh.cli import delivery, numbers
from smimesh.cli._client import client_options, emit, open_client, table
from smimesh.cli._cluster import cluster_options


def _types(row: dict[str, Any]) -> str:
    """`CDS ok  EDS ok  LDS nack` — per type, whether the version sent is acked."""
    parts = []
    for name, sync in (row.get("types") or {}).items():
        state = "nack" if sync.get("nack") else ("ok" if sync.get("acked") == sync.get("sent") else "sent")
        state += f" ×{sync['nacks']}" if sync.get("nack") and sync.get("nacks", 1) > 1 else ""
        parts.append(f"{name} {state}")
    return "  ".join(parts)


def _ms(row: dict[str, Any]) -> str:
    value = row.get("convergence_ms")
    return numbers.millis(value) if isinstance(value, int | float) else "-"


@click.command("proxy-status")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@client_options
@cluster_options
def command(output: str, api_addr: str, token: str | None) -> None:
    """Sync state of every sidecar: SYNCED / STALE / NACKED (with Envoy's error) / ERROR.

    \b
    Examples:
      smimesh proxy-status
      smimesh proxy-status -o json
    """
    with open_client(api_addr, token) as client:
        rows = client.proxies()
        held = (client.status().get("delivery") or {}).get("held_back") or {}
    if output != "table":
        emit({"proxies": rows, "held_back": held}, output)
        return
    if not rows:
        click.echo("No sidecar has connected yet.", err=True)
        return
    table(
        ["PROXY", "STATUS", "CONNECTED SINCE", "TYPES", "CHANGE→ACK"],
        [
            [r["node_id"], r["status"], numbers.timestamp(r.get("connected_since")), _types(r), _ms(r)]
            for r in rows
        ],
    )
    for row in rows:
        for name, sync in (row.get("types") or {}).items():
            if sync.get("nack"):
                item = {"node_id": row["node_id"], "type": name, "message": sync["nack"], **sync}
                click.echo(f"\n{delivery.problem_lines({'refused': [item]})[0]}")
        if row.get("generation_error"):
            click.echo(f"\n{row['node_id']}: its config could not be generated: {row['generation_error']}")
    for line in delivery.problem_lines({"held_back": held}):
        click.echo(f"\n{line}")
