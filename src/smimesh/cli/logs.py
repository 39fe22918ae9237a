"""`smimesh logs WORKLOAD|INSTANCE [-f] [--sidecar]`: a workload's (or its sidecar's) output.

Reads the log files in the run directory of `smimesh up`: `--run-dir`, else the one the mesh at
`--api-addr` reports (or registered in the per-user context file), else the one of the last
`smimesh up` run by this user (recorded beside the context file, kept after it stops), else
`./.smimesh`. So `smimesh logs NAME` needs no flag, wherever it is run and whatever address the
mesh used.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from smimesh.api.auth import last_run_dir, registered_run_dir
from smimesh.api.client import ApiClient
from smimesh.errors import ApiError, ControlPlaneUnavailableError, SmimeshError
from smimesh.local.rundir import RunDir


def locate_run_dir(run_dir: Path | None, api_addr: str) -> Path:
    if run_dir is not None:
        return run_dir
    try:
        with ApiClient(api_addr) as client:
            found = client.status().get("run_dir")
    except (ControlPlaneUnavailableError, ApiError):
        found = None
    if found:
        return Path(found)
    return registered_run_dir(api_addr) or last_run_dir() or Path(".smimesh")


def tail(paths: list[Path], lines: int, prefix: bool) -> dict[Path, int]:
    """Print the last `lines` lines of each file; return where each file ended."""
    offsets = {}
    for path in paths:
        data = path.read_bytes()
        offsets[path] = len(data)
        for line in data.decode("utf-8", "replace").splitlines()[-lines:] if lines else []:
            click.echo(f"{_label(path)} | {line}" if prefix else line)
    return offsets


def follow(offsets: dict[Path, int], prefix: bool) -> None:
    while True:
        for path, offset in offsets.items():
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            if chunk:
                offsets[path] = offset + len(chunk)
                for line in chunk.decode("utf-8", "replace").splitlines():
                    click.echo(f"{_label(path)} | {line}" if prefix else line)
        time.sleep(0.2)


def _label(path: Path) -> str:
    return path.name.removesuffix(".log").removesuffix(".envoy")


@click.command("logs")
@click.argument("name")
@click.option(
    "-f", "--follow", "keep_following", is_flag=True, help="keep printing new lines (Ctrl-C to stop)"
)
@click.option("--sidecar", is_flag=True, help="the Envoy sidecar's log instead of the workload's")
@click.option("--tail", "lines", type=click.IntRange(0), default=100, show_default=True, help="lines to show")
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="run directory of `smimesh up` [default: the running mesh's, else the last run's, else ./.smimesh]",
)
@click.option("--api-addr", envvar="SMIMESH_API_ADDR", default="127.0.0.1:15080", show_default=True)
def command(
    name: str, keep_following: bool, sidecar: bool, lines: int, run_dir: Path | None, api_addr: str
) -> None:
    """Show the output of a workload (all its instances) or of one instance (`bookstore-v1-0`).

    \b
    Examples:
      smimesh logs bookstore-v1            # every instance, prefixed with its name
      smimesh logs bookstore-v1-0 -f       # one instance, following
      smimesh logs buyer --sidecar         # the buyer's Envoy
    """
    where = locate_run_dir(run_dir, api_addr)
    found = RunDir(where).find_logs(name, sidecar=sidecar)
    if not found:
        which = "sidecar log" if sidecar else "log"
        raise SmimeshError(
            f"no {which} for {name} in {where / 'logs'}",
            hint="`smimesh status` lists the instances; --run-dir DIR reads another run",
        )
    offsets = tail(found, lines, prefix=len(found) > 1)
    if keep_following:
        try:
            follow(offsets, prefix=len(found) > 1)
        except KeyboardInterrupt:
            return
