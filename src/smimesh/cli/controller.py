"""`smimesh controller`: run one control-plane replica against a Kubernetes API server.

In a pod it finds the API server through its service account; elsewhere it reads `--kubeconfig`
(or `$KUBECONFIG`, `~/.kube/config`) and `--context`. It runs until SIGINT/SIGTERM, logging to stderr.
Exit status: 0 after a signal, 1 if it cannot start (the reason and a hint on stderr).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from smimesh.errors import UsageError
from smimesh.mesh.modes import CLUSTER_EGRESS
from smimesh.pods.inject import DEFAULT_IMAGE, DEFAULT_XDS_ADDRESS, InjectConfig
from smimesh.runtime.kubernetes.controller import ControllerConfig, KubeController
from smimesh.settings import from_environment


@click.command("controller")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), help="Kubeconfig file.")
@click.option("--context", help="Kubeconfig context (default: the current one).")
@click.option(
    "--namespace",
    default="smimesh-system",
    show_default=True,
    help="The control plane's namespace (Lease, CA Secret).",
)
@click.option(
    "--mesh",
    default="smimesh",
    show_default=True,
    help="Mesh name: namespaces labelled smimesh.io/monitored-by=<mesh> are meshed.",
)
@click.option("--xds-addr", default="0.0.0.0:15128", show_default=True, help="ADS/SDS listen address.")
@click.option(
    "--webhook-addr",
    default="0.0.0.0:9443",
    show_default=True,
    help="Webhooks (HTTPS: /convert, /validate, /healthz, /readyz, /status).",
)
@click.option("--identity", help="This replica's name in the Lease (default: $POD_NAME or the host name).")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Private directory for the CA files (default: a temporary one).",
)
@click.option(
    "--ca-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your CA certificate (with --ca-key) instead of the smimesh-ca Secret; never rotated.",
)
@click.option("--ca-key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--lease-duration", type=float, default=15.0, show_default=True, help="Lease duration, seconds."
)
@click.option(
    "--api-addr", metavar="HOST:PORT", help="Serve the SMI metrics API (reads) here; default: not served."
)
@click.option(
    "--proxy-image", default=DEFAULT_IMAGE, show_default=True, help="Image the injector puts in pods."
)
@click.option(
    "--proxy-xds-address",
    default=DEFAULT_XDS_ADDRESS,
    show_default=True,
    help="xDS address injected sidecars use.",
)
@click.option(
    "--egress",
    type=click.Choice(list(CLUSTER_EGRESS)),
    default="auto",
    show_default=True,
    help="Pods' calls to hosts outside the mesh. auto: only what an Egress allows, once the mesh holds"
    " any Egress (none yet: everything passes); policy: only what an Egress allows, always (no Egress:"
    " nothing outside); open: any external host (an Egress's matches still narrow its host).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log informational messages too.")
def command(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    mesh: str,
    xds_addr: str,
    webhook_addr: str,
    identity: str | None,
    state_dir: Path | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    lease_duration: float,
    api_addr: str | None,
    proxy_image: str,
    proxy_xds_address: str,
    egress: str,
    verbose: bool,
) -> None:
    """Run the control plane against a Kubernetes cluster (one replica; run several for HA).

    Every replica watches the cluster and serves xDS/SDS to the sidecars connected to it; the holder
    of the Lease smimesh-controller also writes Events and the webhooks' caBundle.

    \b
    Examples:
      smimesh controller --kubeconfig ~/.kube/config --xds-addr 127.0.0.1:15128
      smimesh controller            # inside a pod (smimesh install deploys it so)
    """
    if (ca_cert is None) != (ca_key is None):
        raise UsageError(
            "give --ca-cert and --ca-key together", hint="or neither: the smimesh-ca Secret is used"
        )
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = ControllerConfig(
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        mesh=mesh,
        xds_addr=xds_addr,
        webhook_addr=webhook_addr,
        state_dir=state_dir,
        ca_files=(ca_cert, ca_key) if ca_cert and ca_key else None,
        settings=from_environment(),
        lease_duration_s=lease_duration,
        renew_deadline_s=lease_duration * 2 / 3,
        lease_retry_s=max(0.5, lease_duration / 7.5),
        api_addr=api_addr,
        inject=InjectConfig(image=proxy_image, xds_address=proxy_xds_address),
        egress=egress,
    )
    if identity:
        config.identity = identity
    asyncio.run(_serve(config))


async def _serve(config: ControllerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    controller = KubeController(config)
    try:
        await controller.start()
        click.echo(
            f"smimesh controller {config.identity}: xDS on port {controller.xds_port}, "
            f"webhooks on port {controller.webhook_port}",
            err=True,
        )
        await stop.wait()
    finally:
        await controller.stop()
