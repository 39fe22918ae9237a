"""`smimesh check [--pre]`: is the cluster ready for smimesh, and is smimesh working in it (like
`linkerd check`). One line per check; exit 1 if any failed, 0 otherwise (warnings allowed)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

import click
import httpx

from smimesh.runtime.kubernetes.checks import FAIL, OK, Check, run_checks
from smimesh.sources.kubernetes.client import KubeClient
from smimesh.sources.kubernetes.kubeconfig import load_cluster

MARKS = {OK: "✔", FAIL: "✘"}


async def _checks(kubeconfig: Path | None, context: str | None, pre: bool, namespace: str) -> list[Check]:
    client = KubeClient(load_cluster(kubeconfig, context), timeout=15)
    try:
        return await run_checks(client, pre=pre, namespace=namespace)
    except httpx.HTTPError as exc:
        return [Check("API server reachable", FAIL, str(exc), "check --kubeconfig / --context")]
    finally:
        await client.aclose()


@click.command("check")
@click.option("--pre", is_flag=True, help="Before installing: can smimesh run in this cluster?")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), help="Kubeconfig file.")
@click.option("--context", help="Kubeconfig context (default: the current one).")
@click.option(
    "--namespace", default="smimesh-system", show_default=True, help="The control plane's namespace."
)
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(pre: bool, kubeconfig: Path | None, context: str | None, namespace: str, output: str) -> None:
    """Check the cluster (--pre: before install) and the smimesh control plane in it.

    Exit status: 0 every check passed (warnings allowed), 1 a check failed.
    """
    checks = asyncio.run(_checks(kubeconfig, context, pre, namespace))
    if output == "json":
        click.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        for check in checks:
            click.echo(
                f"{MARKS.get(check.status, '‼')} {check.name}" + (f": {check.detail}" if check.detail else "")
            )
            if check.hint and check.status != OK:
                click.echo(f"    hint: {check.hint}")
    raise SystemExit(1 if any(c.status == FAIL for c in checks) else 0)
