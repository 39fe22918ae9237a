"""`smimesh dashboard`: open (or print) the control plane's live dashboard page.

The page is served by the control plane's API at `/dashboard/`. The address printed carries the API
token in the URL fragment (`#token=...`): a fragment is never sent to a server nor written to its
log; the page keeps it for the session and sends it as `Authorization: Bearer`, as the CLI does.
From loopback reads are open anyway; the token matters when the API listens elsewhere.
"""

from __future__ import annotations

import webbrowser

import click

from smimesh.cli._client import client_options, open_client


@click.command("dashboard")
@click.option("--no-open", is_flag=True, help="Only print the address, do not open a browser.")
@click.option("--show-token", is_flag=True, help="Print the address with the token (default: without).")
@client_options
def command(no_open: bool, show_token: bool, api_addr: str, token: str | None) -> None:
    """Open the live topology dashboard of the running mesh (or print its address).

    \b
    Examples:
      smimesh dashboard
      smimesh dashboard --no-open --api-addr 127.0.0.1:15080
    """
    with open_client(api_addr, token) as client:
        client.status()  # a clear error now if nothing runs there, not a blank browser tab
        found = client.token
    address = f"http://{client.api_addr}/dashboard/"
    with_token = f"{address}#token={found}" if found else address
    click.echo(with_token if show_token else address)
    if not no_open and not webbrowser.open(with_token):
        click.echo("no browser could be opened here: open the address above", err=True)
