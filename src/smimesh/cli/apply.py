"""`smimesh apply -f FILE|DIR|-`: create or update resources in a running control plane.

All the files named are sent as ONE request, so the apply is all-or-nothing across them (the API
stores nothing if any document has an error). The problems come back located in the combined
text; they are mapped back to each file's own name and line before they are printed. Then it waits
(`--wait`, default 10 s) for the sidecars to take the change: a sidecar that refused it (NACK), a
sidecar whose config could not be generated, or an applied object held back makes it exit 1.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from smimesh.api.errors import diagnostic_from_dict
from smimesh.cli import delivery
from smimesh.cli._client import client_options, emit, open_client
from smimesh.cli.output import render_text
from smimesh.diagnostics import Diagnostic, Location
from smimesh.errors import ApiError, SmimeshError, UsageError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class Segment:
    source: str
    first_line: int  # 1-based line of the combined text where this file starts
    lines: int


@dataclass(slots=True)
class Bundle:
    """Several manifest files joined into one multi-document text, with a map back to the files."""

    text: str = ""
    segments: list[Segment] = dataclasses.field(default_factory=list)

    def add(self, source: str, content: str) -> None:
        if self.text:
            self.text += "---\n"
        body = content if content.endswith("\n") or not content else content + "\n"
        first = self.text.count("\n") + 1
        self.segments.append(Segment(source, first, body.count("\n")))
        self.text += body

    def locate(self, diagnostic: Diagnostic) -> Diagnostic:
        """The diagnostic with `<api>:N` turned into `file:line` (unchanged if it names no line)."""
        line = diagnostic.location.line
        if line is None or diagnostic.location.file != "<api>":
            return diagnostic  # not about the sent text (e.g. the file that owns an object)
        for segment in self.segments:
            if segment.first_line <= line < segment.first_line + max(segment.lines, 1):
                return diagnostic.at(Location(segment.source, line - segment.first_line + 1))
        return diagnostic


def read_bundle(paths: tuple[str, ...]) -> Bundle:
    bundle = Bundle()
    for raw in paths:
        if raw == "-":
            bundle.add("<stdin>", sys.stdin.read())
            continue
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"no such file or directory: {raw}")
        for file in _manifests(path):
            try:
                bundle.add(str(file), file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"cannot read {file}: {exc}") from exc
    return bundle


def _manifests(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = (p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(path).parts))


@click.command("apply")
@click.option("-f", "--filename", "paths", multiple=True, required=True, help="File, directory or - (stdin).")
@click.option(
    "-o", "--output", type=click.Choice(["text", "json", "yaml"]), default="text", show_default=True
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0, 60),
    default=10.0,
    show_default=True,
    help="seconds to wait for every sidecar to take the change (0: do not wait)",
)
@client_options
def command(paths: tuple[str, ...], output: str, wait_s: float, api_addr: str, token: str | None) -> None:
    """Create or update resources in the running control plane (all or nothing).

    Then waits for the sidecars to take the change. Exit 1 when it cannot be delivered: a sidecar
    refused the new config (Envoy's error is printed), a sidecar's config could not be generated,
    or an applied object is held back; sidecars still silent after --wait are only a warning.

    \b
    Examples:
      smimesh apply -f split.yaml
      smimesh apply -f manifests/            # every .yaml/.yml/.json below it
      cat split.yaml | smimesh apply -f -
      smimesh apply -f split.yaml --wait 0   # do not wait for the sidecars
    """
    bundle = read_bundle(paths)
    if not bundle.text.strip():
        raise UsageError("nothing to apply: the files are empty")
    with open_client(api_addr, token) as client:
        try:
            answer = client.apply(bundle.text, wait_s=wait_s)
        except ApiError as exc:
            if exc.diagnostics:
                click.echo(render_text([bundle.locate(d) for d in exc.diagnostics]), err=True)
            raise ApiError(exc.message, status=exc.status, hint=exc.hint) from None
    if output != "text":
        emit(answer, output)
    else:
        for item in answer.get("applied", []):
            click.echo(f"{item['kind']} {item['namespace']}/{item['name']} {item['action']}")
        warnings = [bundle.locate(diagnostic_from_dict(raw)) for raw in answer.get("diagnostics", [])]
        if warnings:
            click.echo(render_text(warnings), err=True)
    report_delivery(answer.get("delivery"), wait_s)


def report_delivery(report: dict[str, Any] | None, wait_s: float) -> None:
    """What did not reach the sidecars, on stderr; exit 1 (SmimeshError) if the change cannot be."""
    if not report:
        return
    for line in delivery.problem_lines(report):
        click.echo(f"  {line}", err=True)
    if report.get("pending"):
        silent = ", ".join(report["pending"])
        click.echo(
            f"warning: no answer within {wait_s:g} s from: {silent} (see `smimesh proxy-status`)", err=True
        )
    if not report.get("delivered", True):
        raise SmimeshError(
            "the change was stored but did not reach every sidecar",
            hint="fix what is listed above and apply again; `smimesh proxy-status` shows each sidecar",
        )
