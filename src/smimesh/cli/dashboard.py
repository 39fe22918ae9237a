"""`smimesh dashboard`: open (or print) the control plane's live dashboard page.

The page is served by the control plane's API at `/dashboard/`. The address printed carries the API
token in the URL fragment (`#token=...`): a fragment is never sent to a server nor written to its
log; the page keeps it for the session and sends it as `Authorization: Bearer`, as the CLI does.
From loopback reads are open anyway; the token matters when the API listens elsewhere.

With `--kubeconfig`/`--context` the page is the cluster controller's: the command serves it on a
loopback port here and forwards to the controller through the API server with the kubeconfig's
credentials (`cli/_cluster_forward.py`, as `kubectl proxy` does), until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import webbrowser
from typing import Any

import click

from smimesh.cli._client import client_options, open_client
from smimesh.cli._cluster import cluster_options, controller_api, open_cluster_client, wanted
from smimesh.cli._cluster_forward import forward_until_stopped


@click.command("dashboard")
@click.option("--no-open", is_flag=True, help="Only print the address, do not open a browser.")
@click.option("--show-token", is_flag=True, help="Print the address with the token (default: without).")
@click.option(
    "--port", type=int, default=0, help="With --kubeconfig/--context: the local port (default: any free one)."
)
@client_options
@cluster_options
def command(no_open: bool, show_token: bool, port: int, api_addr: str, token: str | None) -> None:
    """Open the live topology dashboard of the running mesh (or print its address).

    With --kubeconfig/--context: the dashboard of the controller in that cluster, served on a
    loopback port here through the API server (with the kubeconfig's credentials) until Ctrl-C.

    \b
    Examples:
      smimesh dashboard
      smimesh dashboard --no-open --api-addr 127.0.0.1:15080
      smimesh dashboard --context prod
    """
    cluster = wanted()
    if cluster is not None:
        _cluster_dashboard(*cluster, port=port, no_open=no_open)
        return
    with open_client(api_addr, token) as client:
        client.status()  # a clear error now if nothing runs there, not a blank browser tab
        found = client.token
    address = f"http://{client.api_addr}/dashboard/"
    with_token = f"{address}#token={found}" if found else address
    click.echo(with_token if show_token else address)
    if not no_open and not webbrowser.open(with_token):
        click.echo("no browser could be opened here: open the address above", err=True)


def _cluster_dashboard(kubeconfig: Any, context: str | None, *, port: int, no_open: bool) -> None:
    with open_cluster_client(kubeconfig, context) as client:
        client.status()  # a clear error now if the API server or the controller does not answer
    api = controller_api(kubeconfig, context)

    def started(bound: int) -> None:
        address = f"http://127.0.0.1:{bound}/dashboard/"
        click.echo(address)
        click.echo(f"forwarding to the smimesh controller of {api.label} (Ctrl-C to stop)", err=True)
        if not no_open and not webbrowser.open(address):
            click.echo("no browser could be opened here: open the address above", err=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(forward_until_stopped(api, port, started))
