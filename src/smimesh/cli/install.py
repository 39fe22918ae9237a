"""`smimesh install` / `smimesh uninstall`: the control plane's Kubernetes objects on stdout.

`smimesh install [--ha] [--set key=value]... [-o yaml|json] | kubectl apply -f -` (Kubernetes 1.29+).
By default a new mesh CA is generated and included as the Secret `smimesh-ca` (so the webhooks'
caBundle is right from the start); `--no-ca` leaves it out (the controller creates it at its first start
and the lease holder fills the caBundle in), `--ca-cert/--ca-key` put your CA in the Secret instead.
`smimesh uninstall [--crds] | kubectl delete -f -`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from smimesh.identity.ca import create_root
from smimesh.identity.keys import private_key_pem
from smimesh.identity.store import load_root_files
from smimesh.runtime.kubernetes.ca_secret import ROOT_LIFETIME
from smimesh.runtime.kubernetes.manifests import InstallOptions, install_objects, uninstall_objects
from smimesh.settings import from_environment

SETTINGS_HELP = (
    "key=value; keys: namespace, image, replicas, mesh, xdsPort, webhookPort, leaseDuration,"
    " injectorFailurePolicy (Fail|Ignore), egress (auto|policy|open: the controller's --egress). Repeatable."
)


def emit(objects: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
    else:
        click.echo(yaml.safe_dump_all(objects, sort_keys=False, explicit_start=True, width=120), nl=False)


def _ca(no_ca: bool, ca_cert: Path | None, ca_key: Path | None) -> tuple[bytes, bytes] | None:
    if no_ca:
        return None
    if ca_cert is not None and ca_key is not None:
        load_root_files(ca_cert, ca_key, now=datetime.now(UTC))  # a clear error now if it cannot sign
        return ca_cert.read_bytes(), ca_key.read_bytes()
    root = create_root(
        trust_domain=from_environment().trust_domain, now=datetime.now(UTC), lifetime=ROOT_LIFETIME
    )
    return root.certificate_pem, private_key_pem(root.private_key)


@click.command("install")
@click.option("--ha", is_flag=True, help="3 replicas, pod anti-affinity and a PodDisruptionBudget.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help=SETTINGS_HELP)
@click.option("--no-ca", is_flag=True, help="Leave the CA Secret out: the controller generates it.")
@click.option(
    "--ca-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Your CA certificate."
)
@click.option("--ca-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Your CA key.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def install(
    settings: tuple[str, ...], ha: bool, no_ca: bool, ca_cert: Path | None, ca_key: Path | None, output: str
) -> None:
    """Print the control plane's objects for `kubectl apply -f -` (Kubernetes 1.29 and later).

    \b
    Examples:
      smimesh install | kubectl apply -f -
      smimesh install --ha --set image=registry.example/smimesh:0.1.0 | kubectl apply -f -
      kubectl label namespace shop smimesh.io/monitored-by=smimesh    # mesh a namespace
    """
    if (ca_cert is None) != (ca_key is None):
        raise click.UsageError("give --ca-cert and --ca-key together")
    options = InstallOptions.parse(list(settings), ha=ha)
    emit(install_objects(options, _ca(no_ca, ca_cert, ca_key)), output)


@click.command("uninstall")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="As given to install.")
@click.option(
    "--crds", is_flag=True, help="Delete the SMI CRDs too: this deletes every SMI object in the cluster."
)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def uninstall(settings: tuple[str, ...], crds: bool, output: str) -> None:
    """Print what to delete for `kubectl delete -f -` (webhooks and cluster-scoped RBAC included).

    The SMI CRDs stay unless --crds: deleting them deletes every SMI object.
    """
    emit(uninstall_objects(InstallOptions.parse(list(settings)), crds=crds), output)
