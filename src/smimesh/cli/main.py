"""The `smimesh` command: a click group whose subcommands load lazily from `COMMANDS`.

Each subcommand lives in its own module exposing `command` (a click.Command), so `smimesh --help`
stays fast and a broken optional module cannot take the whole CLI down. Any `SmimeshError` that
escapes a command becomes one clear message and its exit code; nothing a user does by mistake
prints a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from smimesh import __version__
from smimesh.errors import SmimeshError

# name -> "module:attribute". Keep sorted by the order a user meets them.
COMMANDS: dict[str, str] = {
    "demo": "smimesh.cli.demo:command",
    "up": "smimesh.cli.up:command",
    "validate": "smimesh.cli.validate:command",
    "convert": "smimesh.cli.convert:command",
    "explain-code": "smimesh.cli.explain_code:command",
    "crds": "smimesh.cli.crds:command",
    "apply": "smimesh.cli.apply:command",
    "get": "smimesh.cli.get:command",
    "delete": "smimesh.cli.delete:command",
    "status": "smimesh.cli.status:command",
    "logs": "smimesh.cli.logs:command",
    "proxy-status": "smimesh.cli.proxy_status:command",
    "proxy-config": "smimesh.cli.proxy_config:command",
    "explain": "smimesh.cli.explain:command",
    "top": "smimesh.cli.top:command",
    "stat": "smimesh.cli.stat:command",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _importable(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet
            raise
        command: click.Command = getattr(module, attr)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SmimeshError as exc:
            message = f"error: {exc.message}"
            if exc.hint:
                message += f"\nhint: {exc.hint}"
            click.echo(message, err=True)
            diagnostics = getattr(exc, "diagnostics", None)
            if diagnostics:
                for diagnostic in diagnostics:
                    click.echo(diagnostic.format(), err=True)
            ctx.exit(exc.exit_code)


def _importable(name: str) -> bool:
    module_name = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="smimesh")
def cli() -> None:
    """smimesh: a service mesh configured with SMI, with Envoy as its data plane.

    \b
    Start here:
      smimesh demo                 run the bookstore demo mesh on this machine
      smimesh up DIR               run a mesh from a directory of manifests (edits apply live)
      smimesh validate -f PATH     check manifests offline: every problem, with file:line and field
    """


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="smimesh")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
