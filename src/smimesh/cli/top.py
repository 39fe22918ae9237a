"""`smimesh top`: a live, refreshing view of the mesh's traffic from the SMI metrics API.

Two tables, redrawn every `--interval` seconds with rich's Live display: workloads (what each
received, server side) and edges (who called which workload or service, client side), each with
success rate, requests per second and p50/p90/p99 latency over `--window`. Ctrl-C quits;
`--once` prints one frame and exits (for scripts and pipes).
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from smimesh.api.client import ApiClient
from smimesh.cli._client import client_options, open_client
from smimesh.cli.stat import EDGE_HEADERS, HEADERS, edge_rows, fetch, metrics_path, object_rows


def _table(title: str, headers: tuple[str, ...], rows: list[list[str]]) -> Table:
    grid = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, header_style="bold", expand=False)
    for header in headers:
        grid.add_column(header, no_wrap=True)
    for row in rows:
        grid.add_row(*row)
    return grid


def frame(client: ApiClient, window: str, namespace: str | None) -> Group:
    """One screen: the workloads table and the edges table."""
    workloads: list[dict[str, Any]] = fetch(client, metrics_path("deployments", None, namespace), window)[
        "items"
    ]
    edges: list[list[str]] = []
    for item in workloads:
        ref = item["resource"]
        path = metrics_path("deployments", ref["name"], ref["namespace"], edges=True)
        found = [e for e in fetch(client, path, window)["items"] if e["edge"]["direction"] == "to"]
        edges += [[f"{ref['namespace']}/{ref['name']}", *row[1:]] for row in edge_rows(found)]
    stamp = Text(f"smimesh top — window {window} — {time.strftime('%H:%M:%S')} — Ctrl-C to quit", style="dim")
    return Group(
        stamp,
        _table("Workloads (received)", HEADERS, object_rows(workloads)),
        _table("Edges (sent)", ("FROM", "TO", *EDGE_HEADERS[2:]), edges),
    )


@click.command("top")
@click.option("-w", "--window", default="30s", show_default=True, help="Time window (Go duration, max 5m).")
@click.option("-n", "--namespace", default=None, help="Only this namespace (default: all).")
@click.option("-i", "--interval", default=2.0, show_default=True, help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print one frame and exit.")
@client_options
def command(
    window: str, namespace: str | None, interval: float, once: bool, api_addr: str, token: str | None
) -> None:
    """Live traffic of every workload and edge: success rate, RPS, p50/p90/p99.

    \b
    Examples:
      smimesh top
      smimesh top -n bookstore -w 1m
    """
    console = Console()
    with open_client(api_addr, token) as client:
        if once:
            console.print(frame(client, window, namespace))
            return
        try:
            with Live(
                frame(client, window, namespace), console=console, auto_refresh=False, screen=False
            ) as live:
                while True:
                    time.sleep(interval)
                    live.update(frame(client, window, namespace), refresh=True)
        except KeyboardInterrupt:
            return
