"""`smimesh analyze`: every diagnostic for the objects in a cluster (as `istioctl analyze` does).

Lists the SMI objects, Services, Namespaces, Pods and EndpointSlices once through the kubeconfig,
loads them as the controller does (`sources.kubernetes.KubernetesSource.list_once`), and reports what
loading, the cross-object checks and the mesh model find: code, object, field, found, expected, hint.
Exit status: 0 no errors (warnings allowed unless --strict), 1 problems, 2 usage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import click
import httpx

from smimesh.cli.output import emit_diagnostics, output_option, summary_line
from smimesh.diagnostics import Diagnostic, has_errors
from smimesh.errors import SmimeshError
from smimesh.mesh import build_model
from smimesh.resources import validate_references
from smimesh.sources.kubernetes.client import KubeApiError, KubeClient
from smimesh.sources.kubernetes.kubeconfig import load_cluster
from smimesh.sources.kubernetes.source import KubernetesSource
from smimesh.sources.store import ResourceStore


async def cluster_diagnostics(
    kubeconfig: Path | None, context: str | None, mesh: str
) -> tuple[list[Diagnostic], int]:
    """(every diagnostic, number of objects read) for the cluster the kubeconfig points at."""
    client = KubeClient(load_cluster(kubeconfig, context))
    found: list[Diagnostic] = []
    try:
        source = KubernetesSource(client, ResourceStore(), mesh=mesh, report=found.extend)
        try:
            await source.list_once()
        except KubeApiError as exc:
            raise SmimeshError(
                f"cannot list from {client.config.server}: {exc}",
                hint="are the SMI CRDs installed? `smimesh check` says what is missing",
            ) from None
        except httpx.HTTPError as exc:
            raise SmimeshError(
                f"cannot reach the API server {client.config.server}: {exc}",
                hint="check --kubeconfig / --context (`kubectl cluster-info`)",
            ) from None
    finally:
        await client.aclose()
    snapshot = source.store.snapshot()
    model = build_model(snapshot, source.instances)
    every = {*found, *validate_references(snapshot), *model.diagnostics}
    return sorted(every, key=lambda d: (str(d.object), d.code, d.path, d.message)), len(source.store.items())


def _in_namespace(diagnostics: Sequence[Diagnostic], namespace: str | None) -> list[Diagnostic]:
    return [d for d in diagnostics if namespace is None or d.object.namespace == namespace]


@click.command("analyze")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), help="Kubeconfig file.")
@click.option("--context", help="Kubeconfig context (default: the current one).")
@click.option("-n", "--namespace", help="Only this namespace's objects (default: every namespace).")
@click.option("--mesh", default="smimesh", show_default=True, help="Mesh name (namespace label value).")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@output_option()
def command(
    kubeconfig: Path | None, context: str | None, namespace: str | None, mesh: str, strict: bool, output: str
) -> None:
    """Report every problem with the SMI objects and Services in a cluster.

    \b
    Examples:
      smimesh analyze                      # the current kubectl context
      smimesh analyze -n shop -o json
    """
    every, objects = asyncio.run(cluster_diagnostics(kubeconfig, context, mesh))
    shown = _in_namespace(every, namespace)
    emit_diagnostics(shown, output, summary=summary_line(shown, objects=objects))
    raise SystemExit(1 if has_errors(shown) or (strict and shown) else 0)
