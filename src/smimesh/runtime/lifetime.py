"""Running a mesh until the user stops it: signals, the ordered stop, a second Ctrl-C.

`serve(config, console, while_running=...)` is what `smimesh up` and `smimesh demo` run: start a
`MeshApp`, run `while_running(app)` (the summary, the demo's live view) until it returns or
SIGINT/SIGTERM/SIGHUP arrives, or a root task that produces config fails (`runtime.root_tasks`:
then `RootTaskFailed`, exit 1, after the traceback), then stop everything in order. A second Ctrl-C
while stopping kills every child at once and exits (130).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from smimesh.runtime.app import Console, MeshApp, UpConfig
from smimesh.runtime.root_tasks import RootTaskFailed


async def serve(
    config: UpConfig,
    console: Console,
    *,
    on_ready: Callable[[MeshApp], Any] | None = None,
    while_running: Callable[[MeshApp], Any] | None = None,
) -> None:
    """Run a mesh until Ctrl-C/SIGTERM (or until `while_running(app)` returns); always stop cleanly.

    A second Ctrl-C while stopping kills every child at once.
    """
    app, stop = MeshApp(config, console), asyncio.Event()
    _install_signals(app, stop, console)
    try:
        await app.start()
        if on_ready is not None:
            on_ready(app)
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(app.tasks.failed.wait())]
        if while_running is not None:
            waiters.append(asyncio.ensure_future(while_running(app)))
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for waiter in done:
            waiter.result()
        if app.tasks.failed.is_set():
            raise RootTaskFailed(
                f"smimesh up stops: {app.tasks.failure}",
                hint="the traceback above says where it failed; please report it with that traceback",
            )
    finally:
        console.say("stopping: workloads, sidecars, control plane ...")
        await app.stop()
        console.say("stopped; nothing left running")


def _install_signals(app: MeshApp, stop: asyncio.Event, console: Console) -> None:
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
            return
        console.say("second interrupt: killing everything now")
        app.kill_now()
        os._exit(130)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGHUP: its terminal was closed
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
