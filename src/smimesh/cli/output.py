"""Shared CLI rendering: diagnostics as readable text (grouped per file, coloured), JSON or YAML.

Owns how every command shows diagnostics and documents, so `validate`, `convert`, `apply` and the rest
look alike: `render_text`, `render_json`, `render_yaml`, `summary_line`, `emit_diagnostics` (picks the
format from `-o`) and `dump_documents` (objects as multi-document YAML or JSON). Colour comes from
click, which strips it when the output is not a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
import yaml

from smimesh.diagnostics import Diagnostic, Severity, sort_key

FORMATS = ("text", "json", "yaml")
F = TypeVar("F", bound=Callable[..., Any])
_COLOURS = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def output_option(formats: Sequence[str] = FORMATS, default: str = "text") -> Callable[[F], F]:
    """The `-o/--output` option every command uses."""
    return click.option(
        "-o",
        "--output",
        "output",
        type=click.Choice(list(formats)),
        default=default,
        show_default=True,
        help="Output format.",
    )


def counts(diagnostics: Iterable[Diagnostic]) -> dict[str, int]:
    found = {"errors": 0, "warnings": 0, "infos": 0}
    for d in diagnostics:
        found[{"error": "errors", "warning": "warnings"}.get(d.severity.value, "infos")] += 1
    return found


def summary_line(
    diagnostics: Sequence[Diagnostic], *, objects: int | None = None, files: int | None = None
) -> str:
    """`3 errors, 1 warning in 2 files (12 objects valid)` or `no problems (12 objects in 3 files)`."""
    found = counts(diagnostics)
    scope = []
    if objects is not None:
        scope.append(f"{objects} object{'s' * (objects != 1)} valid")
    if files is not None:
        scope.append(f"{files} file{'s' * (files != 1)}")
    tail = f" ({', '.join(scope)})" if scope else ""
    if not found["errors"] and not found["warnings"]:
        return f"no problems{tail}"
    parts = [
        f"{n} {word}{'s' * (n != 1)}"
        for word, n in (("error", found["errors"]), ("warning", found["warnings"]))
        if n
    ]
    return ", ".join(parts) + tail


def render_text(diagnostics: Sequence[Diagnostic]) -> str:
    """Readable blocks grouped under each file's name, in file/document/line order."""
    blocks: list[str] = []
    current_file: str | None = None
    for d in sorted(diagnostics, key=sort_key):
        file = d.location.file or "<input>"
        if file != current_file:
            blocks.append(click.style(file, bold=True))
            current_file = file
        blocks.append(_block(d))
    return "\n".join(blocks)


def _block(d: Diagnostic) -> str:
    where = []
    if d.location.line is not None:
        where.append(f"line {d.location.line}")
    if d.location.document is not None:
        where.append(f"doc {d.location.document + 1}")
    head = click.style(f"{d.severity.value} {d.code}", fg=_COLOURS.get(d.severity), bold=True)
    lines = [f"  {', '.join(where) or '-'}: {head}: {d.message}"]
    details = [
        ("object", str(d.object) if d.object.kind or d.object.name else ""),
        ("field", d.path),
        ("found", d.value or ""),
        ("expected", d.expected),
        ("hint", d.hint),
    ]
    lines += [f"      {label + ':':<9} {text}" for label, text in details if text]
    return "\n".join(lines)


def render_json(diagnostics: Sequence[Diagnostic], extra: Mapping[str, Any] | None = None) -> str:
    return json.dumps(_payload(diagnostics, extra), indent=2, ensure_ascii=False)


def render_yaml(diagnostics: Sequence[Diagnostic], extra: Mapping[str, Any] | None = None) -> str:
    return yaml.safe_dump(_payload(diagnostics, extra), sort_keys=False, allow_unicode=True)


def _payload(diagnostics: Sequence[Diagnostic], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"diagnostics": [d.to_dict() for d in sorted(diagnostics, key=sort_key)]}
    payload["summary"] = counts(diagnostics)
    payload.update(extra or {})
    return payload


def emit_diagnostics(
    diagnostics: Sequence[Diagnostic],
    output: str,
    *,
    extra: Mapping[str, Any] | None = None,
    summary: str = "",
    err: bool = False,
) -> None:
    """Print diagnostics in the chosen format; text ends with the summary line."""
    if output == "json":
        click.echo(render_json(diagnostics, extra), err=err)
    elif output == "yaml":
        click.echo(render_yaml(diagnostics, extra), err=err, nl=False)
    else:
        if diagnostics:
            click.echo(render_text(diagnostics), err=err)
        if summary:
            colour = "red" if counts(diagnostics)["errors"] else ("yellow" if diagnostics else "green")
            click.echo(click.style(summary, fg=colour, bold=True), err=err)


def dump_documents(documents: Sequence[Mapping[str, Any]], output: str) -> str:
    """Objects as multi-document YAML, or JSON (one object, or a `v1 List` of several)."""
    if output == "json":
        body: Any = (
            documents[0]
            if len(documents) == 1
            else {"apiVersion": "v1", "kind": "List", "items": list(documents)}
        )
        return json.dumps(body, indent=2, ensure_ascii=False)
    return yaml.safe_dump_all(
        [dict(d) for d in documents], sort_keys=False, allow_unicode=True, explicit_start=len(documents) > 1
    )
