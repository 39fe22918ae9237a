"""`smimesh validate`: check manifests offline and report every problem with file, line and field.

Thin: parses the command line, calls `resources.load_paths` (which reads, decodes, validates and checks
references), adds what the mesh model reports (`model_problems`: the same SM6xxx `up` shows) and
renders with `cli.output`. Exit status: 0 clean (warnings allowed unless --strict),
1 problems found, 2 command-line misuse (click's own).
"""

from __future__ import annotations

import click

from smimesh.cli.output import emit_diagnostics, output_option, summary_line
from smimesh.diagnostics import Diagnostic, has_errors, sort_key
from smimesh.mesh import build_model
from smimesh.mesh.instances import counter, instances_from_workloads, workload_layout
from smimesh.resources import LoadResult, load_paths
from smimesh.resources.workload import Workload
from smimesh.settings import from_environment


def model_problems(result: LoadResult) -> list[Diagnostic]:
    """What the mesh model drops or reinterprets (SM6xxx), exactly as `smimesh up` reports it: the
    model built over one instance per Workload replica (the ports are placeholders)."""
    resources = (o.resource for o in result.objects)
    workloads = sorted((r for r in resources if isinstance(r, Workload)), key=lambda w: w.key)
    instances = instances_from_workloads(workload_layout(workloads), counter(1))
    return list(build_model(result.snapshot(), instances).diagnostics)


@click.command("validate")
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    metavar="PATH",
    help="File or directory (recursive) of manifests; `-` reads standard input. Repeatable.",
)
@click.argument("more_paths", nargs=-1, metavar="[PATH]...")
@output_option()
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@click.option("--no-references", is_flag=True, help="Check each object alone, not references between them.")
def command(
    paths: tuple[str, ...], more_paths: tuple[str, ...], output: str, strict: bool, no_references: bool
) -> None:
    """Check SMI, Service and Workload manifests without a running mesh.

    Every document of every file is checked, and every problem is reported with its file, line,
    field path, the value found, what was expected and a hint; a bad document never hides the
    others. `smimesh explain-code CODE` explains any code in depth.

    \b
    Examples:
      smimesh validate -f mesh/                     # a directory, recursively (.yaml .yml .json)
      smimesh validate -f split.yaml -f routes.yaml
      kubectl get trafficsplits -A -o yaml | smimesh validate -f -
      smimesh validate -f mesh/ -o json             # machine-readable
      smimesh validate -f mesh/ --strict            # warnings fail too

    Exit status: 0 no errors, 1 problems found, 2 wrong usage.
    """
    every = paths + more_paths
    if not every:
        raise click.UsageError("give at least one manifest: -f PATH (a file, a directory, or - for stdin)")
    result = load_paths(every, settings=from_environment(), references=not no_references)
    if not no_references:
        result.diagnostics = sorted([*result.diagnostics, *model_problems(result)], key=sort_key)
    files = {d.location.file for d in result.diagnostics} | {o.location.file for o in result.objects}
    summary = summary_line(result.diagnostics, objects=len(result.objects), files=len(files - {""}))
    extra = {"objects": [str(o.key) for o in result.objects], "valid": not has_errors(result.diagnostics)}
    emit_diagnostics(result.diagnostics, output, extra=extra, summary=summary)
    failed = has_errors(result.diagnostics) or (strict and bool(result.diagnostics))
    raise SystemExit(1 if failed else 0)
