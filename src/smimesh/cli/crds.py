"""`smimesh crds [-o DIR]`: the CustomResourceDefinitions of every SMI kind, generated from the models.

Without `-o` the CRDs go to stdout as one multi-document YAML stream (`smimesh crds | kubectl apply -f -`);
with `-o DIR` each CRD is written to `DIR/<plural>.<group>.yaml`.
"""

from __future__ import annotations

from pathlib import Path

import click

from smimesh.errors import UsageError
from smimesh.resources import crd


@click.command("crds")
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one file per CRD here.",
)
@click.option(
    "--webhook-service", default="smimesh-webhook", show_default=True, help="Conversion webhook Service."
)
@click.option("--webhook-namespace", default="smimesh-system", show_default=True, help="Its namespace.")
def command(output_dir: Path | None, webhook_service: str, webhook_namespace: str) -> None:
    """Print (or write) the SMI CRDs: every version served, the newest stored, conversion by webhook."""
    crds = crd.all_crds(crd.WebhookService(name=webhook_service, namespace=webhook_namespace))
    if output_dir is None:
        click.echo(crd.to_yaml(crds), nl=False)
        return
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        for definition in crds:
            path = output_dir / f"{definition['metadata']['name']}.yaml"
            path.write_text(crd.to_yaml([definition]))
            click.echo(f"wrote {path}")
    except OSError as exc:
        raise UsageError(f"cannot write to {output_dir}: {exc.strerror or exc}") from None
