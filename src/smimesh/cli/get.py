"""`smimesh get KIND [NAME] [-n NS | -A] [-o yaml|json|wide]`: resources in force in the control plane.

Kinds by name, plural or short name, any case (`ts`, `trafficsplits`, `TrafficSplit`); the API
resolves them. Without `-n`, a listing shows every namespace (against a cluster: the kubeconfig
context's namespace, as kubectl; `-A` every namespace), and a NAME is looked up in every
namespace (an error asks for `-n` if it is in more than one). `-o yaml|json` prints the objects
(YAML: one document each, ready to apply again; JSON: one object, or a `List`); the table shows
where each one comes from (a file, or the API).
"""

from __future__ import annotations

from typing import Any

import click

from smimesh.api.client import ApiClient
from smimesh.cli._client import client_options, open_client, table
from smimesh.cli._cluster import cluster_options, context_namespace
from smimesh.cli.output import dump_documents
from smimesh.errors import ApiError, SmimeshError


def find_one(client: ApiClient, kind: str, name: str, namespace: str | None) -> dict[str, Any]:
    """The one object of `kind` named `name` (in `namespace`, or in the only namespace that has it)."""
    if namespace:
        return client.resource(kind, namespace, name)
    matches = [item for item in client.resources(kind) if item["name"] == name]
    if not matches:
        raise ApiError(f"{kind} {name!r} not found in any namespace", status=404)
    if len(matches) > 1:
        spaces = ", ".join(sorted(item["namespace"] for item in matches))
        raise SmimeshError(
            f"{kind} {name!r} exists in several namespaces ({spaces})", hint="say which with -n NS"
        )
    return matches[0]


def summary(obj: dict[str, Any]) -> str:
    """One line about what the object does, for `-o wide`."""
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "TrafficSplit":
        backends = ", ".join(f"{b.get('service')}:{b.get('weight')}" for b in spec.get("backends", []))
        return f"{spec.get('service')} → {backends}"
    if kind == "TrafficTarget":
        sources = ", ".join(f"{s.get('namespace', '')}/{s.get('name')}" for s in spec.get("sources", []))
        destination = spec.get("destination", {})
        return f"{sources} → {destination.get('namespace', '')}/{destination.get('name')}"
    if kind == "Service":
        ports = ", ".join(str(p.get("port")) for p in spec.get("ports", []))
        selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
        return f"selector {selector or '-'} ports {ports}"
    if kind == "Workload":
        return f"replicas {spec.get('replicas', 1)} sa {spec.get('serviceAccount', '')}"
    return ""


def print_table(items: list[dict[str, Any]], *, wide: bool) -> None:
    if not items:
        click.echo("No resources found.", err=True)
        return
    headers = ["KIND", "NAMESPACE", "NAME", "ORIGIN"] + (["LOCATION", "SUMMARY"] if wide else [])
    rows = []
    for item in items:
        origin = item["origin"].partition(":")[0]  # a cluster controller's are `kubernetes:Kind/ns/name`
        origin = origin if origin in ("api", "kubernetes") else "file"
        row = [item["kind"], item["namespace"], item["name"], origin]
        rows.append(row + ([item["location"], summary(item["object"])] if wide else []))
    table(headers, rows)


@click.command("get")
@click.argument("kind")
@click.argument("name", required=False)
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="Only this namespace (default: all of them; in a cluster, the context's, as kubectl).",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace (in a cluster too).")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "yaml", "json"]), default="table")
@client_options
@cluster_options
def command(
    kind: str,
    name: str | None,
    namespace: str | None,
    all_namespaces: bool,
    output: str,
    api_addr: str,
    token: str | None,
) -> None:
    """Show resources in force in the running control plane.

    \b
    Examples:
      smimesh get ts                      # every TrafficSplit, all namespaces
      smimesh get trafficsplits bookstore -n bookstore -o yaml
      smimesh get all -o wide             # every resource, with origin and a summary
      smimesh get ts -n shop --context prod   # what the controller of that cluster holds
    """
    if all_namespaces:
        namespace = None
    elif namespace is None:
        namespace = context_namespace()
    with open_client(api_addr, token) as client:
        if name:
            items = [find_one(client, kind, name, namespace)]
        elif kind.lower() == "all":
            items = client.resources(None, namespace)
        else:
            items = client.resources(kind, namespace)
    if output in ("yaml", "json"):
        click.echo(dump_documents([item["object"] for item in items], output).rstrip("\n"))
    else:
        print_table(items, wide=output == "wide")
