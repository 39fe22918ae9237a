"""`smimesh policy suggest`: TrafficTargets and HTTPRouteGroups from the traffic the mesh observed.

Asks `GET /api/v1/policy/suggest`: the control plane keeps the distinct inbound calls its sidecars
logged (every request of a namespace in `audit` mode, every denial, tapped requests) and answers
the smallest objects that allow exactly them (`mesh/suggest.py`). The output is ready for
`smimesh apply -f -`; what could not be turned into policy is said on stderr.
"""

from __future__ import annotations

import click
import yaml

from smimesh.cli._client import client_options, emit, open_client
from smimesh.cli._cluster import cluster_options


@click.group("policy")
def command() -> None:
    """Policy from observed traffic."""


@command.command("suggest")
@click.option("-n", "--namespace", default=None, help="Only calls into this namespace (default: all).")
@click.option("-w", "--window", default="10m", show_default=True, help="How far back (Go duration, max 1h).")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@client_options
@cluster_options
def suggest(namespace: str | None, window: str, output: str, api_addr: str, token: str | None) -> None:
    """Print the smallest TrafficTargets + HTTPRouteGroups allowing exactly the calls observed.

    Observed means logged by the destination's sidecar: every request into a namespace in audit
    mode (MeshConfig `namespaces: {NS: {audit: true}}`), every RBAC denial, and requests seen
    while tapping. Apply the output, then switch the namespace to enforcing.

    \b
    Examples:
      smimesh policy suggest -n legacy --window 30m > legacy-policy.yaml
      smimesh policy suggest -n legacy | smimesh apply -f -
      smimesh policy suggest -n legacy --context prod | kubectl apply -f -
    """
    params = {"window": window, **({"namespace": namespace} if namespace else {})}
    with open_client(api_addr, token) as client:
        answer = client.get_json("/api/v1/policy/suggest", params=params)
    for note in answer.get("notes", []):
        click.echo(f"note: {note}", err=True)
    documents = answer.get("documents", [])
    if not documents:
        click.echo(
            f"no calls observed in the last {window}" + (f" into {namespace}" if namespace else ""), err=True
        )
        return
    click.echo(f"# {len(answer.get('observed', []))} observed calls in the last {window}", err=True)
    if output == "json":
        emit(documents, "json")
    else:
        click.echo(yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False).rstrip("\n"))
