"""`smimesh up DIR`: run a mesh on this machine from a directory of manifests; edits apply live."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console as RichConsole
from rich.markup import escape

from smimesh.cli import security_status
from smimesh.cli.status import READY_TEXT
from smimesh.diagnostics import Diagnostic, Severity
from smimesh.errors import UsageError
from smimesh.runtime.app import Console, MeshApp, UpConfig
from smimesh.runtime.lifetime import serve
from smimesh.settings import from_environment

_SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def rich_console(stderr: RichConsole) -> Console:
    """Lines and diagnostics for the terminal (diagnostics on stderr, with file:line first)."""

    def say(text: str) -> None:
        stderr.print(escape(text), highlight=False, soft_wrap=True)

    def diagnostics(items: Sequence[Diagnostic]) -> None:
        for item in items:
            head, *rest = item.format().splitlines()
            style = _SEVERITY_STYLE.get(item.severity, "")
            stderr.print(
                f"[{style}]{escape(head)}[/]" if style else escape(head), highlight=False, soft_wrap=True
            )
            for line in rest:
                stderr.print(escape(line), highlight=False, soft_wrap=True)

    return Console(say=say, diagnostics=diagnostics)


def summary_lines(app: MeshApp) -> list[str]:
    """The short "mesh is up" text: what runs, whether it is ready (and if not, why, per instance:
    the app or the sidecars, whichever it is), where the API and the logs are, what to run next."""
    status = app.status()
    rows = status["instances"]
    workloads = sorted({(r["namespace"], r["workload"]) for r in rows})
    waiting = [r for r in rows if not r["ready"]]
    state = f"{len(waiting)} not ready yet:" if waiting else READY_TEXT
    lines = [f"mesh is up: {len(workloads)} workloads, {len(rows)} instances, {state}"]
    lines += [f"  {r['namespace']}/{r['instance']}: {r['not_ready']}" for r in waiting]
    security = status.get("security")
    if security:
        lines.append(security_status.mode_line(security))
    if not rows:
        lines.append(
            "  (no Workload in the directory: add a smimesh.io/v1alpha1 Workload and save, it starts at once)"
        )
    for namespace, workload in workloads:
        count = sum(1 for r in rows if r["workload"] == workload and r["namespace"] == namespace)
        lines.append(f"  {namespace}/{workload}: {count} instance{'s' if count != 1 else ''}")
    run_dir = app.run_dir.path
    lines += metrics_lines(app.config)
    lines += [
        f"API      http://{app.api_address}  (write token: {run_dir / 'token'})",
        f"logs     {run_dir / 'logs'}/<namespace>/<instance>.log  (and .envoy.log for the sidecar)",
        f"watching {app.config.directory.resolve()}: a saved edit is live within a second",
        "next     smimesh status | smimesh logs WORKLOAD -f | smimesh get ts | smimesh proxy-status",
        "Ctrl-C stops everything (workloads, sidecars, control plane)",
    ]
    return lines


def metrics_lines(config: UpConfig) -> list[str]:
    """Where the metrics API reads from; with Prometheus, the scrape config to start it with."""
    if not config.prometheus_url:
        return []
    prometheus_yml = config.prometheus_dir / "prometheus.yml"
    return [
        f"metrics  SMI metrics API reads Prometheus at {config.prometheus_url}",
        f"         scrape config {prometheus_yml} (targets kept current in sidecars.json beside it)",
        f"         start it with: prometheus --config.file={prometheus_yml}",
    ]


def check_metrics_flags(backend: str, prometheus_url: str | None) -> str | None:
    """The Prometheus URL to query, or None for the built-in backend; a usage error if they disagree."""
    if backend == "prometheus" and not prometheus_url:
        raise UsageError(
            "--metrics-backend prometheus needs --prometheus-url",
            hint="e.g. --prometheus-url http://127.0.0.1:9090",
        )
    if backend == "builtin" and prometheus_url:
        raise UsageError(
            "--prometheus-url is only used with --metrics-backend prometheus",
            hint="add --metrics-backend prometheus, or drop --prometheus-url",
        )
    if prometheus_url and not prometheus_url.startswith(("http://", "https://")):
        raise UsageError(
            f"invalid --prometheus-url {prometheus_url!r}",
            hint="write http://HOST:PORT, e.g. http://127.0.0.1:9090",
        )
    return prometheus_url.rstrip("/") if prometheus_url else None


def check_ca_flags(ca_cert: Path | None, ca_key: Path | None) -> None:
    if (ca_cert is None) != (ca_key is None):
        given, missing = ("--ca-cert", "--ca-key") if ca_cert else ("--ca-key", "--ca-cert")
        raise UsageError(
            f"{given} needs {missing}",
            hint="pass both: the CA certificate (PEM, with its chain) and its private key (PEM, mode 0600)",
        )


async def report_ready(app: MeshApp, console: Console, wait_s: float) -> None:
    """The summary once every instance is ready (or after `wait_s`, saying what is not ready and why);
    then, if it was not, one line when it is."""
    ready = await app.wait_ready(wait_s)
    for line in summary_lines(app):
        console.say(line)
    if not ready:
        await app.wait_ready(float("inf"))
        console.say(f"mesh is ready: {READY_TEXT}")


async def run_up(config: UpConfig, console: Console) -> None:
    async def keep_running(app: MeshApp) -> None:
        await report_ready(app, console, 10.0)
        await asyncio.Event().wait()  # keep running until interrupted

    await serve(config, console, while_running=keep_running)


def check_addr(addr: str) -> None:
    """A usage error (exit 2) for an address that is not HOST:PORT."""
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"invalid address {addr!r}", hint="write HOST:PORT, e.g. 127.0.0.1:15080")


@click.command("up")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--api-addr", default="127.0.0.1:15080", show_default=True, help="where the HTTP API listens")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="token, logs, applied resources  [default: DIRECTORY/.smimesh]",
)
@click.option(
    "--xds-port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="port of the xDS (ADS) server; 0 picks a free one",
)
@click.option(
    "--mesh-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="SMIMESH_MESH_CONFIG",
    default=None,
    help="MeshConfig file: traffic policy (smi|open), mTLS (strict|permissive), audit per namespace, "
    "pathRegexMatch (start|full), tcpRouteAdmitsHttp; a saved edit applies live  "
    "[default: smi + strict everywhere; $SMIMESH_MESH_CONFIG]",
)
@click.option(
    "--ca-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="your CA certificate (PEM): a root, or an intermediate followed by its chain up to the root; "
    "never rotated by smimesh  [default: a root smimesh creates in the run dir]",
)
@click.option(
    "--ca-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="the private key of --ca-cert (PEM, unencrypted, mode 0600)",
)
@click.option(
    "--metrics-backend",
    type=click.Choice(["builtin", "prometheus"]),
    default="builtin",
    show_default=True,
    help="where the SMI metrics API, top and stat read from",
)
@click.option(
    "--prometheus-url",
    default=None,
    help="the Prometheus server to query with --metrics-backend prometheus; smimesh writes its "
    "scrape config to RUN_DIR/prometheus/prometheus.yml",
)
@click.option(
    "--xds-mode",
    type=click.Choice(["sotw", "delta"]),
    default="sotw",
    show_default=True,
    help="the sidecars' xDS protocol: state of the world, or incremental (delta)",
)
@click.option(
    "--ingress",
    "ingress",
    default=None,
    metavar="HOST:PORT",
    help="run an ingress proxy there: external HTTP routed by the networking.k8s.io/v1 Ingress "
    "manifests' hosts and paths, as identity smimesh-system/smimesh-ingress (allow it with a "
    "TrafficTarget or an IngressBackend)",
)
def command(
    directory: Path,
    api_addr: str,
    run_dir: Path | None,
    xds_port: int,
    mesh_config: Path | None,
    ca_cert: Path | None,
    ca_key: Path | None,
    metrics_backend: str,
    prometheus_url: str | None,
    xds_mode: str,
    ingress: str | None,
) -> None:
    """Run a mesh on this machine from the manifests in DIRECTORY.

    Loads every manifest (SMI kinds, v1 Service, smimesh.io/v1alpha1 Workload), starts every
    Workload instance with an Envoy sidecar, serves the HTTP API, and watches DIRECTORY: a saved
    edit is live within a second. Problems are printed with file:line; valid objects still run.

    \b
    Each workload process gets (the workload contract):
      HOST, PORT (and PORT_<NAME> per named port)   where to listen
      HTTP_PROXY / http_proxy                       its sidecar: call http://SERVICE.NAMESPACE/
      SMIMESH_TCP_<SERVICE>_<NAMESPACE>_<PORT>      local port of each non-HTTP service port
      WORKLOAD_NAME, POD_NAME, POD_NAMESPACE, SERVICE_ACCOUNT
    and runs spec.command + spec.args, with $(VAR) expanded from that environment (as Kubernetes).
    "mesh is up" says whether every instance is ready (its callers' sidecars hold its endpoint) and,
    for each one that is not, why: a crashing app (with its last stderr lines), an app not listening
    on its $PORT, or sidecars that have not accepted their config yet.

    \b
    Where things live (DIRECTORY/.smimesh unless --run-dir):
      token                         API write token (mode 0600)
      logs/<ns>/<instance>.log      a workload's output (.envoy.log: its sidecar's)
      applied.sqlite3               resources applied with `smimesh apply` (kept across restarts)
      ca/                           the root CA smimesh made (not with --ca-cert: yours stays yours)
      prometheus/prometheus.yml     scrape config for your Prometheus (--metrics-backend prometheus)

    \b
    Examples:
      smimesh up ./mesh
      smimesh up ./mesh --api-addr 127.0.0.1:0 --run-dir /tmp/mesh-run
      smimesh up ./mesh --ca-cert ca.pem --ca-key ca.key
      smimesh up ./mesh --metrics-backend prometheus --prometheus-url http://127.0.0.1:9090
      smimesh up ./mesh --ingress 127.0.0.1:8080
    """
    check_addr(api_addr)
    if ingress is not None:
        check_addr(ingress)  # a typo fails here, before anything starts
    check_ca_flags(ca_cert, ca_key)
    prometheus = check_metrics_flags(metrics_backend, prometheus_url)
    settings = from_environment().with_overrides(api_addr=api_addr, run_dir=run_dir)
    config = UpConfig(
        directory=directory,
        run_dir=run_dir,
        api_addr=api_addr,
        xds_port=xds_port,
        settings=settings,
        mesh_config=mesh_config,
        ca_cert=ca_cert,
        ca_key=ca_key,
        prometheus_url=prometheus,
        xds_mode=xds_mode,
        ingress=ingress,
    )
    console = rich_console(RichConsole(stderr=True))
    asyncio.run(run_up(config, console))
