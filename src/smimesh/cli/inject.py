"""`smimesh inject -f FILE`: the sidecar injection, offline, to stdout (like `istioctl kube-inject`).

Reads manifests (files, directories, `-`), injects every Pod, Deployment, StatefulSet, DaemonSet,
ReplicaSet, ReplicationController, Job and CronJob with `pods.inject.inject_object` (the function behind
the mutating webhook), and prints every object, changed or not, in input order. Objects left unchanged
on purpose (host network, opted out, already injected) are named on stderr; an object that cannot be
injected is printed unchanged with its problem on stderr, and the exit status is 1.
"""

from __future__ import annotations

from typing import Any

import click

from smimesh.cli.output import dump_documents, render_text
from smimesh.diagnostics import Diagnostic, Severity
from smimesh.pods import codes
from smimesh.pods.inject import (
    DEFAULT_IMAGE,
    DEFAULT_XDS_ADDRESS,
    TEMPLATE_PATHS,
    InjectConfig,
    inject_object,
)
from smimesh.resources.document import Document
from smimesh.resources.reader import read_paths
from smimesh.settings import from_environment


@click.command("inject")
@click.option("-f", "--filename", "paths", multiple=True, metavar="PATH", help="Manifests; `-` = stdin.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="Image of capture and sidecar.")
@click.option("--xds-address", default=DEFAULT_XDS_ADDRESS, show_default=True, metavar="HOST:PORT")
def command(paths: tuple[str, ...], output: str, image: str, xds_address: str) -> None:
    """Add the smimesh sidecar to the pod templates of manifests; print the result to stdout.

    \b
    Examples:
      smimesh inject -f deploy.yaml | kubectl apply -f -
      kubectl get deploy web -o yaml | smimesh inject -f - | kubectl apply -f -

    Host-network pods, pods annotated `smimesh.io/inject: disabled` and pods already injected come out
    unchanged (a note on stderr): injecting twice changes nothing. Exit status: 0 done, 1 an object
    could not be injected (printed unchanged), 2 wrong usage.
    """
    if not paths:
        raise click.UsageError("give at least one manifest: -f PATH (a file, a directory, or - for stdin)")
    read = read_paths(paths, settings=from_environment())
    config = InjectConfig(image=image, xds_address=xds_address)
    diagnostics = list(read.diagnostics)
    objects: list[Any] = []
    for document in read.documents:
        obj, found = _inject(document, config)
        objects.append(obj)
        diagnostics += found
    if objects:
        click.echo(dump_documents(objects, output), nl=output == "json")
    if diagnostics:
        click.echo(render_text(diagnostics), err=True)
    raise SystemExit(1 if any(d.is_error for d in diagnostics) else 0)


def _inject(document: Document, config: InjectConfig) -> tuple[Any, list[Diagnostic]]:
    if not isinstance(document.data, dict):
        return document.data, []
    outcome = inject_object(document.data, config)
    if outcome.problems:
        return document.data, [_problem(document, path, why) for path, why in outcome.problems]
    if outcome.injected or document.data.get("kind") not in TEMPLATE_PATHS:
        return outcome.obj, []
    note = Diagnostic(
        codes.NOT_INJECTED,
        f"left unchanged: {outcome.reason}",
        Severity.INFO,
        location=document.location(),
        object=document.ref(),
    )
    return outcome.obj, [note]


def _problem(document: Document, path: str, why: str) -> Diagnostic:
    return Diagnostic(
        codes.CANNOT_INJECT,
        f"cannot inject: {why}",
        location=document.location(_split(path)),
        object=document.ref(),
        path=path,
        hint="fix the field, or opt the pod out with the annotation smimesh.io/inject: disabled",
    )


def _split(path: str) -> list[str | int]:
    """`spec.containers[0].livenessProbe` -> ["spec", "containers", 0, "livenessProbe"] (for the line)."""
    parts: list[str | int] = []
    for piece in path.replace("]", "").replace('["', ".").replace('"', "").split("."):
        name, _, index = piece.partition("[")
        parts += [name] + ([int(index)] if index.isdigit() else [])
    return [p for p in parts if p != ""]
