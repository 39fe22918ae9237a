"""`smimesh explain`: would the mesh let WORKLOAD send this request to SERVICE, and why.

Thin. With a mesh running (found like `apply` and `status` find it: `--api-addr`, `--token`, the
context file `smimesh up` registered), it asks that control plane (`GET /api/v1/explain`), which
answers from the model in force: its files and the objects applied through the API, with its
MeshConfig. `-f PATH` is the offline form: it loads the manifests, lays out the Workloads'
instances and builds the model in the MeshConfig's modes (`--mesh-config`). Both print
`mesh.explain.explain` (the same evaluation that generates the sidecars' RBAC, through
`mesh.explain_query.answer`). `--live` also compares what the sidecars should hold with what their
Envoy holds (`cli/explain_live.py`; in a cluster through `pods/portforward`, `cli/_sidecars.py`).
Exit status: 0 allowed, 1 denied, 2 wrong usage (an unknown
workload or service, or neither a running mesh nor `-f`: a message with a hint, never a traceback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx
import yaml

from smimesh.api.auth import known_api_addrs
from smimesh.api.client import ApiClient
from smimesh.cli._client import client_options, open_client
from smimesh.cli._cluster import cluster_options
from smimesh.cli._sidecars import sidecars_for
from smimesh.cli.explain_live import live_check, render_live
from smimesh.errors import ApiError, ControlPlaneUnavailableError, InvalidInputError, UsageError
from smimesh.mesh import build_model
from smimesh.mesh.explain_query import ExplainQuery, answer
from smimesh.mesh.instances import counter, instances_from_workloads, workload_layout
from smimesh.mesh.model import MeshModel
from smimesh.mesh.modes import DEFAULT_MODES, MeshModes, load_mesh_config
from smimesh.resources import load_paths
from smimesh.resources.workload import Workload
from smimesh.settings import from_environment
from smimesh.xds.expectations import expected_sidecars

_COMMANDLINE = click.core.ParameterSource.COMMANDLINE
_FILES = "the manifests in"  # how the answer names its source when read from -f files
_OFFLINE_HELP = "Explain offline from these manifests (default: ask the running mesh)."


def _model(paths: tuple[str, ...], modes: MeshModes) -> tuple[MeshModel, list[Workload]]:
    settings = from_environment()
    result = load_paths(paths, settings=settings)
    resources = [o.resource for o in result.objects]
    workloads = sorted((r for r in resources if isinstance(r, Workload)), key=lambda w: w.key)
    instances = instances_from_workloads(workload_layout(workloads), counter(20000))
    model = build_model(
        result.snapshot(),
        instances,
        trust_domain=settings.trust_domain,
        permissive=modes.open,
        semantics=modes.semantics,
    )
    return model, workloads


def _offline(paths: tuple[str, ...], mesh_config: Path | None, query: ExplainQuery) -> dict[str, Any]:
    """The answer from manifest files, in the shape the control plane answers."""
    modes = DEFAULT_MODES
    if mesh_config is not None:
        modes, problems = load_mesh_config(mesh_config)
        if problems:
            raise InvalidInputError(f"{mesh_config} is not a valid MeshConfig", problems)
    model, workloads = _model(paths, modes)
    result = answer(model, workloads, query, modes, "in these manifests")
    return {**result.to_dict(), "expected": expected_sidecars(model, result)}


def _no_mesh(api_addr: str) -> UsageError:
    others = [addr for addr in known_api_addrs() if addr != api_addr]
    elsewhere = f"; `smimesh up` registered {', '.join(others)} (use --api-addr)" if others else ""
    return UsageError(
        f"no running mesh at {api_addr} to ask, and no -f PATH to read manifests from",
        hint="start one with `smimesh up DIR`, or explain offline: smimesh explain -f DIR "
        f"--mesh-config FILE ...{elsewhere}",
    )


def _remote(api: ApiClient, query: ExplainQuery) -> dict[str, Any]:
    """The answer of the running control plane (a query it cannot resolve is wrong usage)."""
    params: dict[str, Any] = {"from": query.source, "to": query.target, "method": query.method}
    params |= {"path": query.path, "header": list(query.headers)}
    if query.namespace:
        params["namespace"] = query.namespace
    try:
        return api.explain(params)
    except ControlPlaneUnavailableError as error:
        if isinstance(error.__cause__, httpx.TimeoutException):  # a mesh is there, but busy
            raise
        raise _no_mesh(api.api_addr) from None
    except ApiError as error:
        if error.status == 400:
            raise UsageError(error.message, hint=error.hint) from None
        raise


def _render(result: dict[str, Any]) -> list[str]:
    word = "ALLOWED" if result["allowed"] else "DENIED"
    request = result["request"]
    asked = f" {request['method']} {request['path']}" if request else ""
    lines = [f"{word}: {result['source']} -> {result['service']} ({result['protocol']}){asked}"]
    if result["mode"] == "open":
        lines.append("  traffic policy `open`: access control is off, every workload may reach every service")
    elif result["mode"] == "audit":
        lines.append(
            "  audit mode: the TrafficTargets deny this, but the destination only logs and counts it"
        )
    lines.append(f"  reason: {result['reason']}")
    for d in result["decisions"]:
        rule = f" by {d['policy']} ({d['rule']})" if d["allowed"] else f": {d['reason']}"
        verdict = "allowed" if d["allowed"] else "denied"
        lines.append(f"  identity {d['destination']} on port {d['container_port']}: {verdict}{rule}")
        if d.get("note") and d["allowed"]:  # a denial's reason already carries it
            lines.append(f"    {d['note']}")
    return lines


def _suggestion(result: dict[str, Any]) -> list[str]:
    if not result["suggestion"]:
        return []
    text = yaml.safe_dump_all(result["suggestion"], sort_keys=False).rstrip()
    return ["to allow exactly this (and nothing more), apply:", text]


def _show(result: dict[str, Any], evaluated: str, live: list[dict[str, Any]] | None, output: str) -> None:
    body = {k: v for k, v in result.items() if k not in ("expected", "generation")}
    if output == "json":
        extra = {"live": live} if live is not None else {}
        click.echo(json.dumps({**body, "evaluated_by": evaluated, **extra}, indent=2))
        return
    lines = _render(body)
    lines.insert(1, f"  evaluated by: {evaluated}")
    lines += _suggestion(body)
    if live is not None:
        lines.append(
            render_live(live, "the manifests" if evaluated.startswith(_FILES) else "the control plane")
        )
    click.echo("\n".join(lines))


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
@click.option("-f", "--filename", "paths", multiple=True, metavar="PATH", help=_OFFLINE_HELP)
@click.option(
    "--mesh-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="SMIMESH_MESH_CONFIG",
    help="With -f: the MeshConfig file (traffic policy, audit, pathRegexMatch, tcpRouteAdmitsHttp).",
)
@click.option(
    "--live",
    is_flag=True,
    help="Also check the running sidecars: the destination's RBAC config + counters and requests per "
    "HTTPRouteGroup match, or for a UDP "
    "port the caller's outbound_udp listener + datagram counters.",
)
@client_options
@cluster_options
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

    Asks the running mesh (what is in force there: its files and the objects applied with `smimesh
    apply`), found by --api-addr as `smimesh apply` finds it; with -f PATH it reads manifests
    instead, offline. Either way it is the same code that writes the sidecars' RBAC.

    \b
    Examples:
      smimesh explain --from bookstore/buyer --to bookstore.bookstore GET /books
      smimesh explain --from buyer -n bookstore --to bookstore:8080 POST /buy -H 'x-user: alice'
      smimesh explain --from app --to echo.data:7000 -o json
      smimesh explain --from buyer -n bookstore --to bookstore GET / --live   # and ask the sidecars
      smimesh explain -f manifests/ --mesh-config mesh.yaml --from buyer -n bookstore --to bookstore

    Exit status: 0 allowed, 1 denied, 2 wrong usage (also: no running mesh and no -f).
    """
    query = ExplainQuery(source, target, method, path, headers, namespace)
    if not paths and click.get_current_context().get_parameter_source("mesh_config") is _COMMANDLINE:
        raise UsageError(
            "--mesh-config goes with -f", hint="the running mesh uses the MeshConfig it was started with"
        )
    with open_client(api_addr, token) as api:
        if paths:
            result, evaluated = _offline(paths, mesh_config, query), f"{_FILES} {', '.join(paths)}"
        else:
            result, evaluated = _remote(api, query), f"the running mesh at {api.api_addr} (what is in force)"
        checked = live_check(result["expected"], sidecars_for(api)) if live else None
    _show(result, evaluated, checked, output)
    raise SystemExit(0 if result["allowed"] else 1)
