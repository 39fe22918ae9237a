"""`smimesh proxy-status [-o json|yaml]`: is every sidecar in sync with the control plane?

Per sidecar: SYNCED (every type acked at the version sent), STALE (a newer version sent, not yet
acked), NACKED (Envoy refused a config: its error is printed under the table), DISCONNECTED.
"""

from __future__ import annotations

from typing import Any

import click

from smimesh.cli import numbers
from smimesh.cli._client import client_options, emit, open_client, table


def _types(row: dict[str, Any]) -> str:
    """`CDS ok  EDS ok  LDS nack` — per type, whether the version sent is acked."""
    parts = []
    for name, sync in (row.get("types") or {}).items():
        state = "nack" if sync.get("nack") else ("ok" if sync.get("acked") == sync.get("sent") else "sent")
        parts.append(f"{name} {state}")
    return "  ".join(parts)


def _ms(row: dict[str, Any]) -> str:
    value = row.get("convergence_ms")
    return numbers.millis(value) if isinstance(value, int | float) else "-"


@click.command("proxy-status")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@client_options
def command(output: str, api_addr: str, token: str | None) -> None:
    """Sync state of every sidecar: SYNCED / STALE / NACKED (with Envoy's error).

    \b
    Examples:
      smimesh proxy-status
      smimesh proxy-status -o json
    """
    with open_client(api_addr, token) as client:
        rows = client.proxies()
    if output != "table":
        emit({"proxies": rows}, output)
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
        if row.get("nack"):
            click.echo(f"\n{row['node_id']}: Envoy rejected the config:\n  {row['nack']}")
