"""`smimesh export`: translate SMI manifests into Gateway API, Istio, Linkerd or Consul objects.

Thin: reads the files (`resources.reader`), keeps the Kubernetes pod manifests aside for the
account-to-labels mapping, loads the rest (`resources.load_documents`), runs `export.export`,
prints the objects on stdout (applyable) and the translation report on stderr or `--report FILE`.
Exit 1 when the input has errors, an object fails its schema, or `--strict` meets a loss.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from smimesh.cli._client import client_options, open_client
from smimesh.cli._cluster import cluster_options, wanted
from smimesh.cli.output import dump_documents, emit_diagnostics, output_option, summary_line
from smimesh.diagnostics import Diagnostic, ObjectRef, Severity, has_errors
from smimesh.export import TARGETS, Output, export, is_pod_document, pod_group_of
from smimesh.export.codes import NO_GATEWAY_ACCESS, SCHEMA
from smimesh.export.gateway import POLICY_FORMS
from smimesh.resources import load_documents
from smimesh.resources.document import Document
from smimesh.resources.reader import read_paths, read_text
from smimesh.settings import from_environment


@click.command("export")
@click.option("--to", "target", required=True, type=click.Choice(TARGETS), help="The mesh API to write.")
@click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    metavar="PATH",
    help="File or directory of manifests (SMI, Services, Workloads, and Deployments/Pods for the "
    "account-to-labels mapping); `-` reads standard input. Repeatable.",
)
@click.option(
    "--from-mesh",
    is_flag=True,
    help="Read what the running control plane holds (`smimesh up`, through --api-addr; or the cluster's "
    "controller, implied by --kubeconfig/--context) instead of files.",
)
@click.option(
    "--policy",
    type=click.Choice(tuple(POLICY_FORMS)),
    default=None,
    help="With --to gateway-api: TrafficTargets in this mesh's form beside the routes "
    "(Gateway API has no access control).",
)
@output_option(("yaml", "json"), default="yaml")
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the translation report to FILE (JSON when it ends in .json) instead of stderr.",
)
@click.option("--strict", is_flag=True, help="Any loss in the report is an error (exit 1).")
@click.option(
    "--schemas",
    "schema_dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    metavar="DIR",
    help="Validate the output against the CRDs in DIR (repeatable).",
)
@client_options
@cluster_options
def command(
    target: str,
    paths: tuple[str, ...],
    from_mesh: bool,
    policy: str | None,
    output: str,
    report_file: Path | None,
    strict: bool,
    schema_dirs: tuple[Path, ...],
    api_addr: str,
    token: str | None,
) -> None:
    """Export SMI objects to another mesh's API, with a report of what changed.

    Every TrafficSplit, TrafficTarget and route in PATH becomes the target's objects (every SMI
    version is read). Objects go to stdout, ready for `kubectl apply -f -`; the report (per source
    object: what it became, every loss and note with a code; `smimesh explain-code SM8102`) goes to
    stderr. Istio and Linkerd select pods by labels: give the Workloads or Deployments/Pods too.
    Read files (-f) or, with --from-mesh, what a running `smimesh up` holds; with --kubeconfig or
    --context, what the `smimesh controller` of that cluster holds.

    \b
    Examples:
      smimesh export --to gateway-api -f manifests/ > routes.yaml
      smimesh export --to gateway-api --policy linkerd -f manifests/ | kubectl apply -f -
      smimesh export --to istio -f manifests/ -f deployments/ --report review.txt --strict
      smimesh export --to consul --from-mesh
      smimesh export --to gateway-api --context prod > routes.yaml
    """
    from_mesh = from_mesh or wanted() is not None  # a cluster is a running mesh
    if bool(paths) == from_mesh:
        raise click.UsageError(
            "give the input with -f PATH or --from-mesh/--kubeconfig/--context (one of them)"
        )
    if policy and target != "gateway-api":
        raise click.UsageError(f"--policy goes with --to gateway-api; --to {target} has its own policy form")
    documents, problems = _from_mesh(api_addr, token) if from_mesh else _from_files(paths)
    pods = [g for doc in documents if is_pod_document(doc.data) and (g := pod_group_of(doc.data))]
    loaded = load_documents([d for d in documents if not is_pod_document(d.data)])
    problems += loaded.diagnostics
    result = export(loaded.snapshot(), target, pods, policy=policy)
    if schema_dirs:
        _check_schemas(result, schema_dirs)
    header = _header(result, output)
    if result.objects or header:
        body = dump_documents(result.objects, output) if result.objects else ""
        click.echo(header + body, nl=output == "json")
    findings = _finalised(result, strict)
    _write_report(result, findings, problems, report_file)
    failed = has_errors(problems) or has_errors(findings)
    raise SystemExit(1 if failed else 0)


def _from_files(paths: tuple[str, ...]) -> tuple[list[Document], list[Diagnostic]]:
    read = read_paths(paths, from_environment())
    return read.documents, list(read.diagnostics)


def _from_mesh(api_addr: str, token: str | None) -> tuple[list[Document], list[Diagnostic]]:
    with open_client(api_addr, token) as client:
        items = client.resources(None)
    text = dump_documents([item["object"] for item in items], "yaml")
    read = read_text(text, f"<mesh {client.api_addr}>")
    return read.documents, list(read.diagnostics)


def _header(result: Output, output: str) -> str:
    """A YAML comment (kubectl ignores it) when access control was left out for lack of a standard."""
    left_out = sum(d.code == NO_GATEWAY_ACCESS for d in result.findings)
    if output != "yaml" or not left_out:
        return ""
    return (
        f"# smimesh export: {left_out} TrafficTarget(s) not exported: Gateway API has no access-control "
        "standard.\n# Add --policy istio or --policy linkerd for them in that mesh's form.\n"
    )


def _check_schemas(result: Output, directories: tuple[Path, ...]) -> None:
    from smimesh.export.schemas import SchemaSet

    schemas = SchemaSet.from_directory(*directories)
    for obj in result.objects:
        for problem in schemas.problems(obj):
            ref = ObjectRef(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            result.report(ref, Diagnostic(SCHEMA, f"{ref}: {problem}", Severity.ERROR, object=ref))


def _finalised(result: Output, strict: bool) -> list[Diagnostic]:
    """With --strict every loss becomes an error (in the report too)."""
    if strict:
        for entry in result.entries():
            entry.findings = [
                Diagnostic(
                    d.code,
                    d.message,
                    Severity.ERROR,
                    d.location,
                    d.object,
                    d.path,
                    d.value,
                    d.expected,
                    d.hint,
                )
                if d.severity is Severity.WARNING
                else d
                for d in entry.findings
            ]
    return result.findings


def _write_report(
    result: Output, findings: list[Diagnostic], problems: list[Diagnostic], file: Path | None
) -> None:
    if file is not None and file.suffix == ".json":
        data = {
            "target": result.target,
            "objects": len(result.objects),
            "entries": [e.to_dict() for e in result.entries()],
            "input_problems": [d.to_dict() for d in problems],
        }
        file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return
    text = _report_text(result, findings)
    if file is not None:
        file.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text, err=True)
    if problems:
        emit_diagnostics(problems, "text", summary=summary_line(problems), err=True)


def _report_text(result: Output, findings: list[Diagnostic]) -> str:
    losses = sum(d.severity is not Severity.INFO for d in findings)
    notes = len(findings) - losses
    lines = [f"# export to {result.target}: {len(result.objects)} objects; {losses} losses, {notes} notes"]
    for entry in result.entries():
        if not entry.produced and not entry.findings:
            continue
        where = f"  ({entry.location})" if entry.location.file else ""
        lines.append(f"{entry.source}{where}")
        lines += [f"  -> {key}" for key in entry.produced]
        for d in entry.findings:
            kind = {"info": "note", "warning": "loss"}.get(d.severity.value, d.severity.value)
            lines.append(f"  {kind} {d.code}: {d.message}")
            if d.hint:
                lines.append(f"       hint: {d.hint}")
    return "\n".join(lines)
