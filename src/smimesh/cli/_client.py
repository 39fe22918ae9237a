"""Shared bits of the client commands (apply, get, delete, proxy-status, proxy-config).

`client_options` adds `--api-addr` (default `SMIMESH_API_ADDR`, else 127.0.0.1:15080) and
`--token` (default `SMIMESH_TOKEN`, else the token `smimesh up` registered for that address), and
`open_client` honours `_cluster.cluster_options` (`--kubeconfig`/`--context`) where a command has them;
`emit` prints data as JSON or YAML; `table` prints a plain, kubectl-like table with rich.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from smimesh.api.client import ApiClient
from smimesh.cli._cluster import open_cluster_client, wanted

F = TypeVar("F", bound=Callable[..., Any])


def client_options(command: F) -> F:
    command = click.option(
        "--token",
        envvar="SMIMESH_TOKEN",
        default=None,
        help="API token (default: $SMIMESH_TOKEN, else the one `smimesh up` registered for the address).",
    )(command)
    command = click.option(
        "--api-addr",
        envvar="SMIMESH_API_ADDR",
        default="127.0.0.1:15080",
        show_default=True,
        help="Address of the control plane's HTTP API ($SMIMESH_API_ADDR).",
    )(command)
    return command


def open_client(api_addr: str, token: str | None) -> ApiClient:
    """The local control plane at `api_addr`, or with --kubeconfig/--context the cluster's controller."""
    cluster = wanted()
    return open_cluster_client(*cluster) if cluster else ApiClient(api_addr, token=token)


def emit(data: Any, output: str) -> None:
    """Print `data` as `json` or `yaml`."""
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n"))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A borderless table on stdout (wide enough never to wrap cells when piped)."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    Console(width=None if sys.stdout.isatty() else 200).print(grid)
