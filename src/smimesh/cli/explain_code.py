"""`smimesh explain-code CODE`: the title and explanation paragraph of a diagnostic code (or `--list`).

Thin: imports every smimesh module that registers codes (so codes of any layer are known) and
prints from `diagnostics`' registry.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import textwrap
from pathlib import Path

import click

import smimesh
from smimesh.diagnostics import CodeInfo, all_codes, lookup


def load_all_codes() -> list[CodeInfo]:
    """Import every smimesh module that registers codes (they do so on import), then list them all.

    Layers register codes in `codes*.py` modules and, for a few, beside the code that emits them
    (`mesh/modes.py`, `runtime/pipeline.py`, `api/errors.py`): find them by their `register(` call.
    """
    root = Path(smimesh.__file__).parent
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if (
            path.name in ("diagnostics.py", "__main__.py")
            or "register(" not in text
            or "smimesh.diagnostics" not in text
        ):
            continue
        module = ".".join(("smimesh", *path.relative_to(root).with_suffix("").parts))
        with contextlib.suppress(ImportError):  # an optional part that is not installed has no codes to show
            importlib.import_module(module)
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
