"""`smimesh delete KIND NAME [-n NS]`: delete a resource applied through the API.

Objects defined by a manifest file are refused by the control plane (edit the file instead).
Without `-n`, NAME is looked up in every namespace, as `smimesh get` does.
"""

from __future__ import annotations

import click

from smimesh.cli._client import client_options, open_client
from smimesh.cli.get import find_one


@click.command("delete")
@click.argument("kind")
@click.argument("name")
@click.option("-n", "--namespace", default=None, help="Namespace (default: the only one that has NAME).")
@client_options
def command(kind: str, name: str, namespace: str | None, api_addr: str, token: str | None) -> None:
    """Delete a resource that was applied through the API.

    \b
    Examples:
      smimesh delete ts bookstore-canary -n bookstore
      smimesh delete trafficsplit bookstore-canary
    """
    with open_client(api_addr, token) as client:
        found = find_one(client, kind, name, namespace)
        answer = client.delete(found["kind"], found["namespace"], found["name"])
    deleted = answer["deleted"]
    click.echo(f"{deleted['kind']} {deleted['namespace']}/{deleted['name']} deleted")
