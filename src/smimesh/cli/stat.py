"""`smimesh stat KIND [NAME]`: one-shot SMI traffic metrics, like `linkerd viz stat`.

Reads the control plane's SMI metrics API (`/apis/metrics.smi-spec.io/v1alpha1/...`) and prints
success rate, requests per second and p50/p90/p99 latency per object (or per edge with
`--edges`), or the raw TrafficMetrics objects with `-o json|yaml`. The table helpers here are
shared with `smimesh top`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import click

from smimesh.api.client import ApiClient
from smimesh.cli import numbers
from smimesh.cli._client import client_options, emit, open_client, table
from smimesh.cli._cluster import cluster_options
from smimesh.errors import UsageError

PREFIX = "/apis/metrics.smi-spec.io/v1alpha1"
HEADERS = ("NAMESPACE", "NAME", "SUCCESS", "RPS", "P50", "P90", "P99", "REQUESTS")
EDGE_HEADERS = ("DIRECTION", "PEER", "SUCCESS", "RPS", "P50", "P90", "P99", "REQUESTS")
KINDS = ("pods", "deployments", "workloads", "namespaces", "services", "pod", "deployment", "workload",
         "namespace", "service", "po", "deploy", "ns", "svc",
         "trafficsplits", "trafficsplit", "ts")  # fmt: skip
_SHORT = {"po": "pods", "deploy": "deployments", "ns": "namespaces", "svc": "services", "ts": "trafficsplits"}


def metrics_path(kind: str, name: str | None, namespace: str | None, *, edges: bool = False) -> str:
    """The SMI path of a list (`name` None), one object, or its edges."""
    kind = _SHORT.get(kind, kind)
    kind = kind if kind.endswith("s") else kind + "s"
    if kind == "namespaces":
        path = f"/namespaces/{quote(name)}" if name else "/namespaces"
    elif name:
        path = f"/namespaces/{quote(namespace or 'default')}/{kind}/{quote(name)}"
    else:
        path = f"/namespaces/{quote(namespace)}/{kind}" if namespace else f"/{kind}"
    return PREFIX + path + ("/edges" if edges else "")


def fetch(client: ApiClient, path: str, window: str, selector: str | None = None) -> dict[str, Any]:
    params = {"window": window, **({"labelSelector": selector} if selector else {})}
    return client.get_json(path, params=params)


def values(item: dict[str, Any]) -> dict[str, float]:
    """The five metrics of a TrafficMetrics as floats (quantities `10m` = 0.010)."""
    return {m["name"]: _quantity(str(m["value"])) for m in item.get("metrics", [])}


def _quantity(text: str) -> float:
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def window_seconds(item: dict[str, Any]) -> float:
    text, total, number = item.get("window", "30s"), 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number or 0) * {"h": 3600, "m": 60, "s": 1}.get(char, 0)
            number = ""
    return total or 30.0


def metrics_of(item: dict[str, Any]) -> dict[str, float | None]:
    """success_rate (0-1), rps, p50_ms, p90_ms, p99_ms and requests of one item (None: no request)."""
    v = values(item)
    requests = v.get("success_count", 0.0) + v.get("failure_count", 0.0)
    latencies = {f"p{p}_ms": v.get(f"p{p}_response_latency", 0.0) if requests else None for p in (50, 90, 99)}
    return {
        "success_rate": v.get("success_count", 0.0) / requests if requests else None,
        "rps": round(requests / window_seconds(item), 3),
        **latencies,
        "requests": int(requests),
    }


def metric_cells(item: dict[str, Any]) -> list[str]:
    """SUCCESS, RPS, P50, P90, P99, REQUESTS cells of one item (`-` when there was no request)."""
    return cells(metrics_of(item))


def cells(m: dict[str, float | None]) -> list[str]:
    """The cells of `metrics_of`'s answer, written as `numbers` says."""
    latencies = [numbers.millis(m[f"p{p}_ms"]) for p in (50, 90, 99)]
    head = [numbers.percent(m["success_rate"]), numbers.rate(m["rps"])]
    return [*head, *latencies, numbers.count(m["requests"])]


def object_rows(items: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [
        [i["resource"].get("namespace") or "-", i["resource"].get("name", "?"), *metric_cells(i)]
        for i in items
    ]


def edge_rows(items: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for item in items:
        peer = item.get("edge", {}).get("resource") or {}
        label = f"{peer.get('kind', '?').lower()}/{peer.get('namespace', '-')}/{peer.get('name', '?')}"
        rows.append([item["edge"]["direction"], label, *metric_cells(item)])
    return rows


@click.command("stat")
@click.argument("kind", type=click.Choice(KINDS, case_sensitive=False))
@click.argument("name", required=False)
@click.option("-n", "--namespace", default=None, help="Namespace of NAME, or to list (default: all).")
@click.option("--edges", is_flag=True, help="Show NAME's edges (who it called, who called it).")
@click.option(
    "--routes", is_flag=True, help="Show NAME's inbound figures per HTTPRouteGroup match, and denials."
)
@click.option("-w", "--window", default="30s", show_default=True, help="Time window (Go duration, max 5m).")
@click.option("-l", "--selector", default=None, help="Label selector for lists, e.g. app=web.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@client_options
@cluster_options
def command(
    kind: str,
    name: str | None,
    namespace: str | None,
    edges: bool,
    routes: bool,
    window: str,
    selector: str | None,
    output: str,
    api_addr: str,
    token: str | None,
) -> None:
    """Traffic metrics of pods, deployments (workloads), namespaces, services or trafficsplits
    (a split's root; `--edges`: each backend).

    \b
    Examples:
      smimesh stat deployments
      smimesh stat deploy bookstore-v1 -n bookstore --edges
      smimesh stat services -n bookstore -w 1m -o json
      smimesh stat deploy bookstore-v1 -n bookstore --routes
      smimesh stat trafficsplit podinfo -n test --edges
    """
    if routes:
        route_stat(kind, name, namespace, window, output, open_client(api_addr, token))
        return
    if edges and not name:
        raise UsageError(
            "--edges needs a NAME", hint="e.g. smimesh stat deploy bookstore-v1 -n bookstore --edges"
        )
    with open_client(api_addr, token) as client:
        body = fetch(client, metrics_path(kind.lower(), name, namespace, edges=edges), window, selector)
    if output != "table":
        emit(body, output)
        return
    items = body.get("items", [body]) if "items" in body else [body]
    if edges:
        table(EDGE_HEADERS, edge_rows(items))
    else:
        table(HEADERS, object_rows(items))


ROUTE_HEADERS = ("ROUTE", "SUCCESS", "RPS", "P50", "P90", "P99", "REQUESTS")


def route_stat(
    kind: str, name: str | None, namespace: str | None, window: str, output: str, client: ApiClient
) -> None:
    """`--routes`: one row per HTTPRouteGroup match the object's sidecars served, then the denials."""
    if not name:
        raise UsageError(
            "--routes needs a NAME", hint="e.g. smimesh stat deploy bookstore-v1 -n bookstore --routes"
        )
    with client:
        path = metrics_path(kind.lower(), name, namespace or "default") + "/routes"
        body = fetch(client, path, window)
    if output != "table":
        emit(body, output)
        return
    rows = []
    for item in body.get("items", []):
        route = item["route"]
        rows.append([f"{route['namespace']}/{route['name']}#{route['match']}", *metric_cells(item)])
    denials = [("(denied by RBAC)", body.get("denied_count", 0))]
    if body.get("audit_denied_count"):
        denials.append(("(audit: would be denied)", body["audit_denied_count"]))
    rows += [[label, "-", "-", "-", "-", "-", str(count)] for label, count in denials]
    table(ROUTE_HEADERS, rows)
