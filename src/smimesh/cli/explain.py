"""`smimesh explain`: would the mesh let WORKLOAD send this request to SERVICE, and why (offline).

Thin: loads the manifests (`-f`, default the current directory), lays out the Workloads' instances,
builds the mesh model in the MeshConfig's traffic-policy mode, and prints `mesh.explain.explain`
(the same evaluation that generates the sidecars' RBAC). Exit status: 0 allowed, 1 denied,
2 wrong usage (an unknown workload or service is a usage error with a hint, never a traceback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from smimesh.cli._client import client_options, open_client
from smimesh.cli.explain_live import live_check, render_live
from smimesh.errors import InvalidInputError, UsageError
from smimesh.mesh import build_model
from smimesh.mesh.explain import Explanation, explain
from smimesh.mesh.instances import counter, instances_from_workloads, workload_layout
from smimesh.mesh.model import Identity, MeshModel, ServiceKey
from smimesh.mesh.modes import DEFAULT_MODES, MeshModes, load_mesh_config
from smimesh.resources import load_paths
from smimesh.resources.workload import Workload
from smimesh.settings import from_environment


def _workloads(resources: list[Any]) -> list[Workload]:
    return sorted((r for r in resources if isinstance(r, Workload)), key=lambda w: w.key)


def _model(paths: tuple[str, ...], modes: MeshModes) -> tuple[MeshModel, list[Workload]]:
    settings = from_environment()
    result = load_paths(paths, settings=settings)
    resources = [o.resource for o in result.objects]
    workloads = _workloads(resources)
    instances = instances_from_workloads(workload_layout(workloads), counter(20000))
    model = build_model(
        result.snapshot(),
        instances,
        trust_domain=settings.trust_domain,
        permissive=modes.open,
        semantics=modes.semantics,
    )
    return model, workloads


def _source(workloads: list[Workload], name: str, namespace: str | None) -> Identity:
    ns, _, short = name.rpartition("/")
    ns = ns or namespace or ""
    found = [w for w in workloads if w.metadata.name == short and (not ns or w.metadata.namespace == ns)]
    if len(found) != 1:
        known = ", ".join(f"{w.metadata.namespace}/{w.metadata.name}" for w in workloads) or "none"
        what = "is ambiguous" if found else "is not a Workload in these manifests"
        raise UsageError(f"--from {name!r} {what}", hint=f"use NAMESPACE/WORKLOAD; Workloads: {known}")
    return Identity(found[0].metadata.namespace, found[0].spec.service_account)


def _target(model: MeshModel, text: str, caller_namespace: str) -> tuple[ServiceKey, int | None]:
    host, _, port = text.partition(":")
    if port and not port.isdigit():
        raise UsageError(
            f"--to {text!r}: the port must be a number", hint="e.g. --to bookstore.bookstore:8080"
        )
    parts = host.split(".")
    key = ServiceKey(parts[1] if len(parts) > 1 else caller_namespace, parts[0])
    if model.service(key) is None:
        known = ", ".join(f"{k.name}.{k.namespace}" for k in sorted(model.services)) or "none"
        raise UsageError(
            f"--to {text!r}: no Service {key.name} in namespace {key.namespace}", hint=f"Services: {known}"
        )
    return key, int(port) if port else None


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"-H {value!r} is not 'Name: value'", hint="e.g. -H 'x-user: alice'")
        headers[name.strip().lower()] = text.strip()
    return headers


def _render(result: Explanation) -> str:
    word = "ALLOWED" if result.allowed else "DENIED"
    request = f" {result.request[0]} {result.request[1]}" if result.request else ""
    lines = [
        f"{word}: {result.source} -> {result.service.name}.{result.service.namespace}:{result.port}"
        f" ({result.protocol}){request}"
    ]
    if result.mode == "open":
        lines.append("  traffic policy `open`: access control is off, every workload may reach every service")
    elif result.mode == "audit":
        lines.append(
            "  audit mode: the TrafficTargets deny this, but the destination only logs and counts it"
        )
    lines.append(f"  reason: {result.verdict.reason}")
    for d in result.verdict.decisions:
        rule = f" by {d.policy} ({d.rule})" if d.allowed else f": {d.reason}"
        verdict = "allowed" if d.allowed else "denied"
        lines.append(f"  identity {d.destination} on port {d.container_port}: {verdict}{rule}")
        if d.note and d.allowed:  # a denial's reason already carries it
            lines.append(f"    {d.note}")
    if result.suggestion:
        lines.append("to allow exactly this (and nothing more), apply:")
        lines.append(yaml.safe_dump_all(result.suggestion, sort_keys=False).rstrip())
    return "\n".join(lines)


def _live(model: MeshModel, result: Explanation, api_addr: str, token: str | None) -> list[dict[str, Any]]:
    with open_client(api_addr, token) as api:
        return live_check(model, result, api)


@click.command("explain")
@click.option(
    "--from", "source", required=True, metavar="WORKLOAD", help="The calling Workload (NS/NAME or NAME)."
)
@click.option(
    "--to", "target", required=True, metavar="SERVICE[:PORT]", help="SERVICE, SERVICE.NS, with :PORT."
)
@click.argument("method", required=False, default="GET")
@click.argument("path", required=False, default="/")
@click.option(
    "-H", "--header", "headers", multiple=True, metavar="'K: V'", help="A request header. Repeatable."
)
@click.option("-n", "--namespace", default=None, help="Namespace of --from and of a bare --to SERVICE.")
@click.option("-f", "--filename", "paths", multiple=True, metavar="PATH", help="Manifests (default: .).")
@click.option(
    "--mesh-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="SMIMESH_MESH_CONFIG",
    help="MeshConfig file (traffic policy, audit, pathRegexMatch, tcpRouteAdmitsHttp).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Also check the running mesh: the destination sidecars (RBAC config + counters), or for a UDP "
    "port the caller's sidecars (its outbound_udp listener + datagram counters).",
)
@client_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(
    source: str,
    target: str,
    method: str,
    path: str,
    headers: tuple[str, ...],
    namespace: str | None,
    paths: tuple[str, ...],
    mesh_config: Path | None,
    live: bool,
    api_addr: str,
    token: str | None,
    output: str,
) -> None:
    """Would the mesh let WORKLOAD call SERVICE? Which TrafficTarget and match decide, and how to allow it.

    Evaluated offline from the manifests, with the same code that writes the sidecars' RBAC.

    \b
    Examples:
      smimesh explain --from bookstore/buyer --to bookstore.bookstore GET /books
      smimesh explain --from buyer -n bookstore --to bookstore:8080 POST /buy -H 'x-user: alice'
      smimesh explain --from app --to echo.data:7000 -o json
      smimesh explain --from buyer -n bookstore --to bookstore GET / --live   # and ask the sidecars

    Exit status: 0 allowed, 1 denied, 2 wrong usage.
    """
    modes = DEFAULT_MODES
    if mesh_config is not None:
        modes, problems = load_mesh_config(mesh_config)
        if problems:
            raise InvalidInputError(f"{mesh_config} is not a valid MeshConfig", problems)
    model, workloads = _model(paths or (".",), modes)
    identity = _source(workloads, source, namespace)
    service, port = _target(model, target, namespace or identity.namespace)
    if not path.startswith("/"):
        raise UsageError(f"PATH {path!r} must start with /", hint="e.g. smimesh explain ... GET /books")
    result = explain(model, identity, service, port, method, path, _headers(headers), modes=modes)
    checked = _live(model, result, api_addr, token) if live else None
    if output == "json":
        click.echo(json.dumps({**result.to_dict(), **({"live": checked} if live else {})}, indent=2))
    else:
        click.echo(_render(result) + ("\n" + render_live(checked) if checked is not None else ""))
    raise SystemExit(0 if result.allowed else 1)
