"""Reaching a controller in a Kubernetes cluster through the kubeconfig, as kubectl users expect.

`--kubeconfig FILE` / `--context NAME` (either one switches a client command to the cluster) make
`open_client` call the controller's API through the API server's service proxy,
`SERVER/api/v1/namespaces/smimesh-system/services/smimesh-controller:api/proxy/...`, with the
kubeconfig's credentials: the API server authenticates the user and checks RBAC (`services/proxy`),
so no smimesh token is needed. The paths are those `smimesh up` serves (docs/kubernetes.md).
`context_namespace()`: the context's namespace, `get`'s default there as kubectl's.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from smimesh.api.client import ApiClient
from smimesh.runtime.kubernetes.manifests import NAME as CONTROLLER_SERVICE
from smimesh.sources.kubernetes.kubeconfig import load_cluster

CONTROLLER_NAMESPACE = "smimesh-system"
API_PORT_NAME = "api"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        ctx.meta[f"smimesh.{param.name}"] = value
    return value


def cluster_options(command: Any) -> Any:
    """`--kubeconfig` and `--context`, kept in the click context for `open_cluster_client`."""
    command = click.option(
        "--context",
        default=None,
        expose_value=False,
        callback=_remember,
        help="Kubeconfig context: talk to the smimesh controller in that cluster.",
    )(command)
    return click.option(
        "--kubeconfig",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        callback=_remember,
        help="Kubeconfig file: talk to the controller in its current context's cluster.",
    )(command)


def wanted() -> tuple[Path | None, str | None] | None:
    """(kubeconfig, context) if this command was pointed at a cluster, else None (local mode)."""
    meta = click.get_current_context().meta
    kubeconfig, context = meta.get("smimesh.kubeconfig"), meta.get("smimesh.context")
    return None if kubeconfig is None and context is None else (kubeconfig, context)


def context_namespace() -> str | None:
    """The kubeconfig context's namespace when pointed at a cluster (kubectl's default `-n`), else None."""
    cluster = wanted()
    return load_cluster(*cluster).namespace if cluster else None


@dataclass(frozen=True)
class ControllerApi:
    """Where the controller's API is through the API server's service proxy, with which credentials."""

    label: str
    base_url: str
    token: str | None
    verify: ssl.SSLContext | bool


def controller_api(kubeconfig: Path | None, context: str | None) -> ControllerApi:
    cluster = load_cluster(kubeconfig, context)
    service = f"{CONTROLLER_SERVICE}:{API_PORT_NAME}"
    prefix = f"/api/v1/namespaces/{CONTROLLER_NAMESPACE}/services/{service}/proxy"
    label = f"{cluster.server} (context {cluster.context})"
    return ControllerApi(label, cluster.server + prefix, cluster.bearer(), cluster.verify())


def open_cluster_client(kubeconfig: Path | None, context: str | None) -> ApiClient:
    api = controller_api(kubeconfig, context)
    return ApiClient(
        api.label,
        token=api.token,
        base_url=api.base_url,
        verify=api.verify,
        unreachable="the API server does not answer: check --kubeconfig / --context (`kubectl cluster-info`)",
    )
