"""`smimesh explain-code CODE`: the title and explanation paragraph of a diagnostic code (or `--list`).

Thin: imports every `codes*` module of the smimesh packages (so codes registered by any layer are
known) and prints from `diagnostics`' registry.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import textwrap

import click

import smimesh
from smimesh.diagnostics import CodeInfo, all_codes, lookup


def load_all_codes() -> list[CodeInfo]:
    """Import every `codes*.py` module under smimesh (they register their codes on import)."""
    for package in pkgutil.iter_modules(smimesh.__path__, "smimesh."):
        if not package.ispkg:
            continue
        module = importlib.import_module(package.name)
        for child in pkgutil.iter_modules(getattr(module, "__path__", []), package.name + "."):
            if child.name.rsplit(".", 1)[-1].startswith("codes"):
                importlib.import_module(child.name)
    return all_codes()


@click.command("explain-code")
@click.argument("code", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every code with its title.")
def command(code: str | None, list_all: bool) -> None:
    """Explain a diagnostic code such as SM3010 (what it means and how to fix it).

    \b
    Examples:
      smimesh explain-code SM3010
      smimesh explain-code --list
    """
    known = load_all_codes()
    if list_all or code is None:
        if code is None and not list_all:
            raise click.UsageError("give a CODE (e.g. SM3010) or --list")
        for entry in known:
            click.echo(f"{entry.code}  {entry.severity.value:<7}  {entry.title}")
        return
    info = lookup(code)
    if info is None:
        wanted = code.strip().upper()
        close = [i.code for i in known if i.code[:4] == wanted[:4]][:6] or difflib.get_close_matches(
            wanted, [i.code for i in known], n=3, cutoff=0.5
        )
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise click.BadParameter(
            f"unknown code {code!r}.{hint} `smimesh explain-code --list` lists them all.", param_hint="CODE"
        )
    click.echo(click.style(f"{info.code}: {info.title}", bold=True) + f"  ({info.severity.value})")
    click.echo()
    click.echo(textwrap.fill(info.explanation, width=90))
