"""`smimesh top`: a live, refreshing view of the mesh's traffic from the SMI metrics API.

Two tables every `--interval` seconds: workloads (what each received, server side) and edges (which
workload called which, client side), each with success rate, requests per second and p50/p90/p99
latency over `--window`. How it is shown depends on where it goes:

- a terminal: redrawn in place (rich Live); one name per line (`namespace/name`; edges grouped under
  their caller) so the tables fit 80 columns without cutting a name, and a name longer still folds
  onto a second line rather than losing characters;
- a pipe or file: one plain, unwrapped table per refresh, flushed at once (for `tee`, `grep`);
- `-o json`: one JSON object per refresh, one per line (for `jq`).

Ctrl-C quits; `--once` shows one refresh and exits.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from smimesh.api.client import ApiClient
from smimesh.cli import numbers
from smimesh.cli._client import client_options, open_client
from smimesh.cli._cluster import cluster_options
from smimesh.cli.stat import HEADERS, cells, fetch, metrics_of, metrics_path
from smimesh.errors import ApiError

PIPE_WIDTH = 250  # a pipe has no width: wide enough that no row wraps


def snapshot(client: ApiClient, window: str, namespace: str | None) -> dict[str, Any]:
    """One refresh as data: `{"time", "window", "workloads": [...], "edges": [...]}` (the JSON form)."""
    workloads = fetch(client, metrics_path("deployments", None, namespace), window)["items"]
    edges: list[dict[str, Any]] = []
    for item in workloads:
        ref = item["resource"]
        path = metrics_path("deployments", ref["name"], ref["namespace"], edges=True)
        for edge in fetch(client, path, window)["items"]:
            if edge["edge"]["direction"] == "to":
                source = {"kind": "Deployment", "namespace": ref["namespace"], "name": ref["name"]}
                edges.append({"from": source, "to": edge["edge"]["resource"], **metrics_of(edge)})
    return {
        "time": numbers.timestamp(time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        "window": window,
        "workloads": [{**_identity(item["resource"]), **metrics_of(item)} for item in workloads],
        "edges": edges,
        "canaries": _canaries(client, namespace),
    }


def _identity(resource: dict[str, Any]) -> dict[str, str]:
    return {"namespace": resource.get("namespace") or "-", "name": resource.get("name", "?")}


def _peer(resource: dict[str, Any]) -> str:
    """`ns/name` for a workload (what nearly every edge goes to), `kind/ns/name` for anything else."""
    where = f"{resource.get('namespace', '-')}/{resource.get('name', '?')}"
    kind = str(resource.get("kind", "?"))
    return where if kind == "Deployment" else f"{kind.lower()}/{where}"


def _table(title: str, headers: tuple[str, ...], rows: list[list[str]]) -> Table:
    grid = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        padding=(0, 1, 0, 0),  # one space between columns: room for names at 80 columns
    )
    for index, header in enumerate(headers):
        # The name column folds when the screen is narrower still; numbers never shrink.
        grid.add_column(header, overflow="fold", no_wrap=index > 0)
    for row in rows:
        grid.add_row(*row)
    return grid


def _edge_rows(edges: list[dict[str, Any]]) -> list[list[str]]:
    """Grouped by caller: a `caller →` line, then one indented line per callee with its numbers.

    One name per line is what lets the table fit 80 columns with names as long as the demo's.
    """
    rows: list[list[str]] = []
    caller = None
    for edge in edges:
        if _peer(edge["from"]) != caller:
            caller = _peer(edge["from"])
            rows.append([f"{caller} →", *[""] * (len(HEADERS) - 2)])
        rows.append([f"  {_peer(edge['to'])}", *cells(edge)])
    return rows


def frame(data: dict[str, Any], footer: str) -> Group:
    """The two tables of one refresh, under a line saying what they cover."""
    workloads = [[f"{w['namespace']}/{w['name']}", *cells(w)] for w in data["workloads"]]
    stamp = Text(f"smimesh top — window {data['window']} — {data['time']}{footer}", style="dim")
    return Group(
        stamp,
        _table("Workloads (received)", ("WORKLOAD", *HEADERS[2:]), workloads),
        _table("Edges (sent)", ("FROM → TO", *HEADERS[2:]), _edge_rows(data["edges"])),
        *_canary_table(data.get("canaries", [])),
    )


def _canaries(client: ApiClient, namespace: str | None) -> list[dict[str, Any]]:
    """The canaries' progress (issue 14): name, phase, weight, failed checks, message."""
    try:
        items = client.canaries(namespace)
    except ApiError:  # a control plane without the canary controller
        return []
    return [
        {
            "namespace": c["namespace"],
            "name": c["name"],
            "maxWeight": c["maxWeight"],
            "threshold": c["threshold"],
        }
        | {k: c["status"][k] for k in ("phase", "canaryWeight", "failedChecks", "message", "paused")}
        for c in items
    ]


def _canary_table(canaries: list[dict[str, Any]]) -> list[Table]:
    rows = [
        [
            f"{c['namespace']}/{c['name']}",
            c["phase"] + (" (paused)" if c["paused"] else ""),
            f"{c['canaryWeight']}/{c['maxWeight']}",
            f"{c['failedChecks']}/{c['threshold']}",
            c["message"][:60],
        ]
        for c in canaries
    ]
    headers = ("CANARY", "PHASE", "WEIGHT", "FAILED", "MESSAGE")
    return [_table("Canaries", headers, rows)] if rows else []


@click.command("top")
@click.option("-w", "--window", default="30s", show_default=True, help="Time window (Go duration, max 5m).")
@click.option("-n", "--namespace", default=None, help="Only this namespace (default: all).")
@click.option("-i", "--interval", default=2.0, show_default=True, help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Show one refresh and exit.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: one object per refresh, one per line.",
)
@client_options
@cluster_options
def command(
    window: str,
    namespace: str | None,
    interval: float,
    once: bool,
    output: str,
    api_addr: str,
    token: str | None,
) -> None:
    """Live traffic of every workload and edge: success rate, RPS, p50/p90/p99.

    In a terminal the tables are redrawn in place; piped, each refresh is printed as a plain table
    (or, with -o json, as one JSON object per line).

    \b
    Examples:
      smimesh top
      smimesh top -n bookstore -w 1m
      smimesh top -o json | jq -c '.edges[]'
      smimesh top --once | grep bookstore
    """
    with open_client(api_addr, token) as client:
        try:
            if output == "table" and sys.stdout.isatty() and not once:
                _live(client, window, namespace, interval)
            else:
                _stream(client, window, namespace, interval, once, output)
        except KeyboardInterrupt:
            return


def _live(client: ApiClient, window: str, namespace: str | None, interval: float) -> None:
    def current() -> Group:
        return frame(snapshot(client, window, namespace), " — Ctrl-C to quit")

    with Live(current(), console=Console(), auto_refresh=False, screen=False) as live:
        while True:
            time.sleep(interval)
            live.update(current(), refresh=True)


def _stream(
    client: ApiClient, window: str, namespace: str | None, interval: float, once: bool, output: str
) -> None:
    """Each refresh printed whole and flushed: a table (wide, unwrapped) or one JSON line."""
    console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
    while True:
        data = snapshot(client, window, namespace)
        if output == "json":
            click.echo(json.dumps(data, ensure_ascii=False))
        else:
            console.print(frame(data, ""), "")
        sys.stdout.flush()
        if once:
            return
        time.sleep(interval)
