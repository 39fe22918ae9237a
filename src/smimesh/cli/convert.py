"""`smimesh convert`: rewrite manifests in another version of their API group (hub-and-spoke conversion).

Thin: loads with `resources.load_paths`, converts each object of the target group with
`resources.convert`, prints the result as YAML or JSON on stdout and every problem on stderr.
Objects of other groups pass through as written. A conversion that would lose meaning is refused
with its diagnostic (exit 1); the other objects are still converted. A field the target version cannot
express (kept for smimesh in a conversion annotation) is warned about with what other readers of that
version do instead (`resources.convert.losses`); `--strict` refuses those objects too.
"""

from __future__ import annotations

from typing import Any

import click

from smimesh.cli.output import dump_documents, emit_diagnostics, output_option, summary_line
from smimesh.diagnostics import Diagnostic, has_errors
from smimesh.errors import ConversionError
from smimesh.resources import LoadedObject, load_paths, registry
from smimesh.resources import convert as convert_resource
from smimesh.resources.convert import losses
from smimesh.settings import from_environment


def _target_versions() -> list[str]:
    return sorted({api for api, _ in registry.known() if "/" in api})


@click.command("convert")
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    required=True,
    metavar="PATH",
    help="File or directory of manifests; `-` reads standard input. Repeatable.",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="GROUP/VERSION",
    help="Target apiVersion, e.g. split.smi-spec.io/v1alpha2.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse (SM5002, exit 1) objects with a field the target version cannot express, "
    "instead of keeping it in a smimesh.io/conversion-* annotation with a warning (SM5006).",
)
@output_option(("yaml", "json"), default="yaml")
def command(paths: tuple[str, ...], target: str, strict: bool, output: str) -> None:
    """Convert SMI objects to another version of their API group.

    Objects of GROUP are converted (up or down, through the newest version); objects of other
    groups are printed unchanged. A field the target version cannot hold is kept in a
    `smimesh.io/conversion-*` annotation, or the conversion is refused when that would change
    meaning (for example widen access); the reason is printed on stderr. smimesh reads such an
    annotation back, other readers of the target version ignore it: each such field gets a warning
    (SM5006) saying what they will do instead; with --strict the object is refused (SM5002).

    \b
    Examples:
      smimesh convert -f split.yaml --to split.smi-spec.io/v1alpha4
      smimesh convert -f split.yaml --to split.smi-spec.io/v1alpha2 --strict
      smimesh convert -f old-policies/ --to access.smi-spec.io/v1alpha3 -o json
      cat routes.yaml | smimesh convert -f - --to specs.smi-spec.io/v1alpha2
    """
    versions = _target_versions()
    if target not in versions:
        raise click.BadParameter(
            f"{target!r} is not a served apiVersion; choose one of: {', '.join(versions)}", param_hint="--to"
        )
    result = load_paths(paths, settings=from_environment(), references=False)
    problems = list(result.diagnostics)
    documents = [
        doc for obj in result.objects if (doc := _converted(obj, target, strict, problems)) is not None
    ]
    if documents:
        click.echo(dump_documents(documents, output), nl=output == "json")
    emit_diagnostics(problems, "text", summary=summary_line(problems) if problems else "", err=True)
    raise SystemExit(1 if has_errors(problems) else 0)


def _converted(
    obj: LoadedObject, target: str, strict: bool, problems: list[Diagnostic]
) -> dict[str, Any] | None:
    if registry.group_of(obj.original.API_VERSION) != registry.group_of(target):
        return obj.original.to_dict()
    try:
        converted = convert_resource(obj.original, target)
    except ConversionError as exc:
        problems.extend(d.at(obj.location) for d in exc.diagnostics)
        if not exc.diagnostics:
            problems.append(Diagnostic("SM5000", exc.message, location=obj.location, hint=exc.hint))
        return None
    lost = [d.at(obj.document.location(_field_path(d.path))) for d in losses(converted, strict=strict)]
    problems.extend(lost)
    return None if strict and lost else converted.to_dict()


def _field_path(path: str) -> tuple[str, ...]:
    """`spec.matches[].headers` -> ("spec", "matches", "headers"): where to look for the field's line."""
    return tuple(path.replace("[]", "").split("."))
