"""`smimesh demo`: the bookstore mesh on this machine, with a live view of the traffic.

Copies the packaged demo into a working directory (default ./smimesh-demo; files already there are
kept, so the user's edits survive a restart), runs it like `smimesh up`, and shows ~2x per second
what the buyer and the thief really saw: requests/s, success rate, and which bookstore version
answered. Edit split.yaml while it runs and watch the share move.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console as RichConsole
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from smimesh import demo
from smimesh.cli import numbers
from smimesh.cli.up import check_addr, rich_console, summary_lines
from smimesh.demo.stats import ClientView, DemoStats
from smimesh.runtime.app import MeshApp, UpConfig
from smimesh.runtime.lifetime import serve
from smimesh.settings import from_environment

REFRESH_S = 0.5


def split_weights(split_file: Path) -> str:
    """`bookstore-v1 90 / bookstore-v2 10` as the file says now (or why it cannot be read)."""
    try:
        document = yaml.safe_load(split_file.read_text())
        backends = document["spec"]["backends"]
        return " / ".join(f"{b['service']} {b['weight']}" for b in backends)
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        return f"(cannot read {split_file.name}: {type(exc).__name__})"


def render(views: list[ClientView], directory: Path, elapsed: float) -> Group:
    table = Table(title=f"bookstore demo — live ({numbers.duration(elapsed)})", title_justify="left")
    for header in ("client", "requests/s", "success", "answered by (last 3 s)", "total"):
        table.add_column(header)
    for view in views:
        rate, success = numbers.rate(view.requests_per_s), numbers.percent(view.success_rate)
        table.add_row(view.name, rate, success, view.share_text(), str(view.total))
    split_file = directory / demo.SPLIT_FILE
    notes = Text.assemble(
        ("split now: ", "bold"),
        split_weights(split_file),
        "\n",
        ("try: ", "bold"),
        f"edit {split_file} (e.g. weights 50/50, then 0/100) and save\n",
        ("in another terminal: ", "bold"),
        "smimesh status · smimesh get ts · smimesh logs bookstore-v2\n",
        "Ctrl-C stops everything",
    )
    failing = [v for v in views if v.last_error and v.success_rate is not None and v.success_rate < 1]
    errors = [Text(f"{v.name}: failing now, last error {v.last_error}", style="yellow") for v in failing]
    return Group(table, notes, *errors)


def guidance(directory: Path) -> list[str]:
    split_file = directory / demo.SPLIT_FILE
    return [
        f"try: edit {split_file} (e.g. weights 50/50, then 0/100) and save: the share below follows",
        "in another terminal: smimesh status · smimesh get ts · smimesh logs bookstore-v2",
    ]


def plain_line(views: list[ClientView]) -> str:
    parts = []
    for view in views:
        rate, success = numbers.rate(view.requests_per_s), numbers.percent(view.success_rate)
        parts.append(f"{view.name}: {rate} req/s, {success} ok, {view.share_text()}")
    return " | ".join(parts)


async def live_view(app: MeshApp, terminal: RichConsole, duration: float | None) -> None:
    directory = app.config.directory
    stats = DemoStats(directory / demo.STATS_DIR, demo.CLIENTS)
    started = time.monotonic()
    deadline = None if duration is None else started + duration
    if not terminal.is_terminal:
        for line in guidance(directory):
            terminal.print(line, highlight=False, soft_wrap=True)
        await _plain_view(stats, terminal, deadline)
        return
    with Live(render(stats.refresh(), directory, 0), console=terminal, refresh_per_second=4) as live:
        while deadline is None or time.monotonic() < deadline:
            await asyncio.sleep(REFRESH_S)
            live.update(render(stats.refresh(), directory, time.monotonic() - started))


async def _plain_view(stats: DemoStats, terminal: RichConsole, deadline: float | None) -> None:
    """Not a terminal (piped, CI): one line every two seconds instead of a redrawn table."""
    last_line = 0.0
    while deadline is None or time.monotonic() < deadline:
        await asyncio.sleep(REFRESH_S)
        views = stats.refresh()
        if time.monotonic() - last_line >= 2.0:
            terminal.print(plain_line(views), highlight=False)
            last_line = time.monotonic()


@click.command("demo")
@click.argument("scenario", type=click.Choice(["bookstore", "canary"]), default="bookstore")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="working directory for the demo's files [default: smimesh-demo, smimesh-canary-demo]",
)
@click.option(
    "--duration", type=click.FloatRange(min=1), default=None, help="stop by itself after this many seconds"
)
@click.option("--api-addr", default="127.0.0.1:15080", show_default=True, help="where the HTTP API listens")
def command(scenario: str, directory: Path | None, duration: float | None, api_addr: str) -> None:
    """Run the bookstore demo: a TrafficSplit between two versions, live traffic, live view.
    `smimesh demo canary`: a Flagger Canary rolls a faulty release back by itself, then promotes
    a healthy one step by step.

    \b
    Examples:
      smimesh demo                      # runs until Ctrl-C
      smimesh demo --duration 30 --dir /tmp/bookstore
      smimesh demo canary --duration 120
    """
    check_addr(api_addr)  # a typo fails here, before anything starts
    if scenario == "canary":
        from smimesh.cli.demo_canary import run_demo

        settings = from_environment().with_overrides(api_addr=api_addr)
        run_demo(directory or Path("smimesh-canary-demo"), duration, api_addr, settings)
        return
    directory = directory or Path("smimesh-demo")
    terminal = RichConsole(stderr=True)
    written = demo.copy_to(directory)
    kept = "" if written else " (already there: your edits are kept)"
    terminal.print(f"demo files in {directory.resolve()}{kept}", highlight=False)
    settings = from_environment().with_overrides(api_addr=api_addr)
    run_with_view(
        UpConfig(directory=directory, api_addr=api_addr, settings=settings),
        terminal,
        lambda app: live_view(app, terminal, duration),
    )


def run_with_view(config: UpConfig, terminal: RichConsole, view: Callable[[MeshApp], Awaitable[Any]]) -> None:
    """Run the mesh like `smimesh up`; once it is ready, its summary, then `view(app)` until it returns
    (or Ctrl-C). Both demos run this way."""
    console = rich_console(terminal)

    async def run(app: MeshApp) -> Any:
        await app.wait_ready(15.0)
        for line in summary_lines(app):
            console.say(line)
        await view(app)

    asyncio.run(serve(config, console, while_running=run))
