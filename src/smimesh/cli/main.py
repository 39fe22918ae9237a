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

# name -> "module:attribute", with the one-line summary `smimesh --help` shows, grouped as a user meets
# them. The summaries live here so that `--help` imports no command module (it stays instant).
COMMAND_GROUPS: dict[str, dict[str, tuple[str, str]]] = {
    "Run a mesh": {
        "demo": ("smimesh.cli.demo:command", "run the bookstore demo: split, access control, live traffic"),
        "up": ("smimesh.cli.up:command", "run a mesh from a directory of manifests; edits apply live"),
    },
    "Offline (no control plane needed)": {
        "validate": ("smimesh.cli.validate:command", "check manifests: every problem, file:line, field"),
        "convert": ("smimesh.cli.convert:command", "convert SMI objects to another API version"),
        "explain": ("smimesh.cli.explain:command", "would WORKLOAD be allowed to call SERVICE, and why?"),
        "export": ("smimesh.cli.export:command", "translate SMI to Gateway API, Istio, Linkerd or Consul"),
        "explain-code": ("smimesh.cli.explain_code:command", "explain a diagnostic code such as SM3010"),
        "crds": ("smimesh.cli.crds:command", "print or write the SMI CustomResourceDefinitions"),
    },
    "Against a running control plane": {
        "apply": ("smimesh.cli.apply:command", "create or update resources (durable)"),
        "get": ("smimesh.cli.get:command", "show resources in force"),
        "delete": ("smimesh.cli.delete:command", "delete a resource applied through the API"),
        "status": ("smimesh.cli.status:command", "instances, processes, restarts, modes, certificates"),
        "logs": ("smimesh.cli.logs:command", "output of a workload or of its sidecar"),
        "proxy-status": ("smimesh.cli.proxy_status:command", "sync state per sidecar: SYNCED/STALE/NACKED"),
        "proxy-config": ("smimesh.cli.proxy_config:command", "the config a sidecar holds, from its Envoy"),
        "canary": ("smimesh.cli.canary:command", "canaries: list, status, promote, abort, retry, set-weight"),
    },
    "On Kubernetes": {
        "install": ("smimesh.cli.install:install", "print the control plane's objects: | kubectl apply -f -"),
        "uninstall": ("smimesh.cli.install:uninstall", "print what to delete: | kubectl delete -f -"),
        "controller": ("smimesh.cli.controller:command", "run a control-plane replica against a cluster"),
        "check": ("smimesh.cli.kube_check:command", "is the cluster ready (--pre); is smimesh working?"),
        "analyze": ("smimesh.cli.kube_analyze:command", "every diagnostic for the objects in a cluster"),
        "inject": ("smimesh.cli.inject:command", "add the sidecar to pod templates (offline, to stdout)"),
        "capture": ("smimesh.cli.capture:command", "in a pod: send its TCP through the sidecar (init step)"),
        "sidecar": ("smimesh.cli.sidecar:command", "in a pod: render the bootstrap and run Envoy"),
        "sidecar-ready": ("smimesh.cli.sidecar:ready", "in a pod: the sidecar's startup/readiness check"),
    },
    "Traffic metrics": {
        "top": ("smimesh.cli.top:command", "live success rate, rps and latency per workload and edge"),
        "stat": ("smimesh.cli.stat:command", "one-shot traffic metrics of pods, workloads, namespaces"),
        "tap": ("smimesh.cli.tap:command", "stream live requests through a workload's sidecars"),
        "policy": ("smimesh.cli.policy:command", "policy suggest: SMI objects from observed traffic"),
        "dashboard": ("smimesh.cli.dashboard:command", "open the live topology dashboard in a browser"),
    },
}
COMMANDS: dict[str, str] = {
    name: target for group in COMMAND_GROUPS.values() for name, (target, _) in group.items()
}


# Options accepted before the subcommand too (`smimesh --api-addr X status`, kubectl's habit): the group
# parses them and hands them to the subcommand as if written right after its name, so the subcommand's
# own parser validates them and a repeat after the subcommand wins. param name -> flag to hand on.
GLOBAL_OPTIONS: dict[str, str] = {
    "api_addr": "--api-addr",
    "token": "--token",
    "run_dir": "--run-dir",
    "namespace": "--namespace",
    "output": "--output",
}


class LazyGroup(click.Group):
    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is None:
            return name, command, rest
        return name, command, [*_handed_on(ctx, command, name or ""), *rest]

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

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for title, group in COMMAND_GROUPS.items():
            rows = [(name, summary) for name, (_, summary) in group.items() if _importable(name)]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

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


def _handed_on(ctx: click.Context, command: click.Command, name: str) -> list[str]:
    """The global options given before `name`, as arguments for it; refused if `name` has no such option."""
    accepted = {param.name for param in command.params}
    handed: list[str] = []
    for param, flag in GLOBAL_OPTIONS.items():
        value = ctx.params.get(param)
        if value is None:
            continue
        if param not in accepted:
            raise click.UsageError(f"{flag} does not apply to `smimesh {name}`", ctx)
        handed += [flag, str(value)]
    return handed


def _importable(name: str) -> bool:
    module_name = COMMANDS[name].split(":")[0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="smimesh")
@click.option("--api-addr", metavar="HOST:PORT", help="Control plane's API address (commands that use it).")
@click.option("--token", metavar="TOKEN", help="API token (for the commands that use it).")
@click.option("--run-dir", metavar="DIR", help="Run directory of `smimesh up` (for up and logs).")
@click.option("-n", "--namespace", metavar="NS", help="Namespace (for the commands that take -n).")
@click.option("-o", "--output", metavar="FORMAT", help="Output format (each command lists its own).")
def cli(**_global_options: str | None) -> None:
    """smimesh: a service mesh configured with SMI, with Envoy as its data plane.

    \b
    Start here:
      smimesh demo                 run the bookstore demo mesh on this machine
      smimesh up DIR               run a mesh from a directory of manifests (edits apply live)
      smimesh validate -f PATH     check manifests offline: every problem, with file:line and field

    The options below are also accepted after the command (`smimesh status --api-addr H:P` is
    `smimesh --api-addr H:P status`); they are handed to the command, which checks them.
    """


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="smimesh")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
