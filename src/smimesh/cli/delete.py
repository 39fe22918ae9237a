"""`smimesh delete KIND NAME [-n NS]` or `smimesh delete -f FILE|DIR|-`: delete resources applied via the API.

Objects defined by a manifest file are refused by the control plane (edit the file instead).
Without `-n`, NAME is looked up in every namespace, as `smimesh get` does. With `-f`, every object
the files define is deleted one by one (kubectl's habit): the documents are only read for their
kind, namespace and name, so a file that no longer validates can still be deleted. Each object is
reported; one that cannot be deleted never stops the others, and the exit code is 1 if any failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from smimesh.api.client import ApiClient
from smimesh.cli._client import client_options, open_client
from smimesh.cli.get import find_one
from smimesh.cli.output import render_text
from smimesh.errors import ApiError, SmimeshError, UsageError
from smimesh.resources import read_paths


@dataclass(frozen=True, slots=True)
class Target:
    """One object a file names, and where (for the message when it cannot be deleted)."""

    kind: str
    namespace: str
    name: str
    where: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@click.command("delete")
@click.argument("kind", required=False)
@click.argument("name", required=False)
@click.option(
    "-f", "--filename", "paths", multiple=True, help="File, directory or - (stdin): delete what it defines."
)
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="Namespace (default: the only one that has NAME; with -f: "
    "of the objects that name none, else default).",
)
@click.option("--ignore-not-found", is_flag=True, help="An object that does not exist is not an error.")
@client_options
def command(
    kind: str | None,
    name: str | None,
    paths: tuple[str, ...],
    namespace: str | None,
    ignore_not_found: bool,
    api_addr: str,
    token: str | None,
) -> None:
    """Delete resources that were applied through the API: by kind and name, or every object of files.

    \b
    Examples:
      smimesh delete ts bookstore-canary -n bookstore
      smimesh delete trafficsplit bookstore-canary
      smimesh delete -f canary.yaml          # every object the file defines
      cat canary.yaml | smimesh delete -f -
    """
    if paths and (kind or name):
        raise UsageError("give KIND NAME or -f FILE, not both")
    if not paths and not (kind and name):
        raise UsageError("nothing to delete", hint="smimesh delete KIND NAME, or smimesh delete -f FILE")
    with open_client(api_addr, token) as client:
        if paths:
            _delete_files(client, paths, namespace, ignore_not_found)
            return
        assert kind and name  # checked above
        try:
            found = find_one(client, kind, name, namespace)
        except ApiError as exc:
            if ignore_not_found and exc.status == 404:
                return
            raise
        answer = client.delete(found["kind"], found["namespace"], found["name"])
    deleted = answer["deleted"]
    click.echo(f"{deleted['kind']} {deleted['namespace']}/{deleted['name']} deleted")


def _delete_files(client: ApiClient, paths: tuple[str, ...], namespace: str | None, ignore: bool) -> None:
    targets, unreadable = _targets(paths, namespace)
    failed = unreadable + sum(not _delete_one(client, target, ignore) for target in targets)
    if failed:
        raise SmimeshError(f"{failed} of {len(targets) + unreadable} objects could not be deleted")
    if not targets:
        raise UsageError("nothing to delete: the files define no object")


def _targets(paths: tuple[str, ...], namespace: str | None) -> tuple[list[Target], int]:
    """The objects the files name, and how many documents name none (each reported on stderr)."""
    read = read_paths(paths)
    if read.diagnostics:
        click.echo(render_text(read.diagnostics), err=True)
    targets, unreadable = [], len([d for d in read.diagnostics if d.severity.value == "error"])
    for document in read.documents:
        ref, line = document.ref(), document.line_of()
        where = document.source + (f":{line}" if line is not None else "")
        if not ref.kind or not ref.name:
            click.echo(f"error: {where}: no kind or metadata.name: names nothing to delete", err=True)
            unreadable += 1
            continue
        targets.append(Target(ref.kind, ref.namespace or namespace or "default", ref.name, where))
    return targets, unreadable


def _delete_one(client: ApiClient, target: Target, ignore_not_found: bool) -> bool:
    try:
        client.delete(target.kind, target.namespace, target.name)
    except ApiError as exc:
        if ignore_not_found and exc.status == 404:
            return True
        hint = f"\n  hint: {exc.hint}" if exc.hint else ""
        click.echo(f"error: {target.where}: {exc.message}{hint}", err=True)
        return False
    click.echo(f"{target} deleted")
    return True
