"""`smimesh demo canary`: a canary rolled back by itself, then one promoted step by step, shown live.

Writes the demo (`smimesh.demo.canary`) into the working directory, runs it like `smimesh up`, and
while it runs: waits for the Canary to initialize, saves v2 (10 % errors) and waits for the
controller to roll it back, then saves v3 and waits for its promotion. The view shows the canary
(phase, weight, failed checks, why) and what the client saw (share per version, success rate);
without a terminal it prints one line per change. `--duration` stops it by itself.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from rich.console import Console as RichConsole
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from smimesh.cli import numbers
from smimesh.cli.demo import run_with_view
from smimesh.demo import canary as scenario
from smimesh.demo.stats import DemoStats
from smimesh.runtime.app import MeshApp, UpConfig
from smimesh.settings import Settings

REFRESH_S = 0.5
PHASE_TIMEOUT_S = 180.0


class Show:
    """What the demo is doing now, and the lines it has said (the script and the view share it)."""

    def __init__(self, app: MeshApp, terminal: RichConsole) -> None:
        self.app, self.terminal = app, terminal
        self.step = "starting"
        self.stats = DemoStats(app.config.directory / ".stats", (scenario.CLIENT,))

    def canary(self) -> dict[str, Any]:
        found = self.app.canaries.get(scenario.NAMESPACE, scenario.TARGET) if self.app.canaries else None
        return found or {"status": {}, "events": [], "threshold": "?", "maxWeight": "?"}

    def say(self, text: str) -> None:
        self.step = text
        self.terminal.print(text, highlight=False, soft_wrap=True)

    def line(self) -> str:
        item, view = self.canary(), self.stats.refresh()[0]
        found = item["status"]
        return (
            f"{found.get('phase', '-')} weight {found.get('canaryWeight', 0)}/{item['maxWeight']} "
            f"failed checks {found.get('failedChecks', 0)}/{item['threshold']} | client: "
            f"{numbers.percent(view.success_rate)} ok, {view.share_text()}"
        )

    def render(self, elapsed: float) -> Group:
        item, view = self.canary(), self.stats.refresh()[0]
        found = item["status"]
        table = Table(title=f"canary demo — live ({numbers.duration(elapsed)})", title_justify="left")
        for header in ("phase", "canary weight", "failed checks", "client success", "answered by (last 3 s)"):
            table.add_column(header)
        table.add_row(
            str(found.get("phase", "-")),
            f"{found.get('canaryWeight', 0)} % (max {item['maxWeight']} %)",
            f"{found.get('failedChecks', 0)} of {item['threshold']}",
            numbers.percent(view.success_rate),
            view.share_text(),
        )
        events = [Text(f"  {e['time']}  {e['message']}", style="dim") for e in item["events"][-6:]]
        why = Text(str(found.get("message", "")), style="italic")
        return Group(Text(self.step, style="bold"), table, why, Text("events:"), *events)


async def wait_for(show: Show, phase: str) -> bool:
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while time.monotonic() < deadline:
        if show.canary()["status"].get("phase") == phase:
            return True
        await asyncio.sleep(0.2)
    return False


async def script(show: Show) -> None:
    """The releases, one after the other, each waiting for the controller's verdict."""
    directory = show.app.config.directory
    if not await wait_for(show, "Initialized"):
        show.say("the canary did not initialize; see `smimesh canary status podinfo -n demo`")
        return
    for (version, env, what), verdict in zip(scenario.RELEASES, ("Failed", "Succeeded"), strict=True):
        show.say(f"releasing {version}: {what}")
        await asyncio.sleep(2)  # let the view show the release before the analysis starts
        scenario.release(directory, version, env)
        if not await wait_for(show, verdict):
            show.say(f"{version} did not reach {verdict} in {PHASE_TIMEOUT_S:.0f} s")
            return
        found = show.canary()["status"]
        done = "rolled back" if verdict == "Failed" else "promoted"
        show.say(f"{version} {done} by the controller ({found.get('failedChecks', 0)} failed checks)")
    show.say("done: v3 serves all traffic. Edit podinfo.yaml to release again; Ctrl-C stops")


async def view(show: Show, duration: float | None) -> None:
    started = time.monotonic()
    deadline = None if duration is None else started + duration
    run = asyncio.create_task(script(show))
    try:
        if show.terminal.is_terminal:
            with Live(show.render(0), console=show.terminal, refresh_per_second=4) as live:
                while deadline is None or time.monotonic() < deadline:
                    await asyncio.sleep(REFRESH_S)
                    live.update(show.render(time.monotonic() - started))
        else:
            await _plain(show, deadline)
    finally:
        run.cancel()


async def _plain(show: Show, deadline: float | None) -> None:
    last = ""
    while deadline is None or time.monotonic() < deadline:
        await asyncio.sleep(REFRESH_S)
        line = show.line()
        if line.split(" | ")[0] != last:  # one line per change of the canary
            show.terminal.print(line, highlight=False, soft_wrap=True)
            last = line.split(" | ")[0]


def run_demo(directory: Path, duration: float | None, api_addr: str, settings: Settings) -> None:
    terminal = RichConsole(stderr=True)
    scenario.write_demo(directory)
    terminal.print(f"canary demo files in {directory.resolve()}", highlight=False)
    config = UpConfig(directory=directory, api_addr=api_addr, settings=settings)
    run_with_view(config, terminal, lambda app: view(Show(app, terminal), duration))
