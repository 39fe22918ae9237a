"""The long-running tasks of `smimesh up`, supervised: none of them may die silently.

Owns `RootTasks`. `spawn(name, run, restart=...)` runs `run()` (a coroutine factory) until `stop()`.
If it raises (or returns: a root task runs until stopped), the traceback is said to the user, then:
- `restart=True` (tasks that only observe: telemetry, request logs, Prometheus targets): it runs
  again after an exponential backoff (`local.backoff.Backoff`: 0.5 s doubling up to 10 s, forgiven
  after 10 s of healthy running), and the user is told when;
- `restart=False` (every task that produces or delivers config: the pipeline, the manifest watcher,
  certificates, the MeshConfig watcher, the workload reconciler, the canary controller): `failed` is
  set with what failed, and `smimesh up` stops with exit 1 (`runtime.lifetime`), because going on
  would serve stale config without saying so.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable

from smimesh.errors import SmimeshError
from smimesh.local.backoff import Backoff

Run = Callable[[], Awaitable[object]]


class RootTaskFailed(SmimeshError):
    """A root task that produces or delivers config failed: `smimesh up` stops (exit 1)."""


class RootTaskReturned(RuntimeError):
    """A root task's coroutine returned: it must run until stopped."""


class RootTasks:
    """Supervised root tasks; `failed` is set (and `failure` says which and why) when one must stop `up`."""

    def __init__(self, say: Callable[[str], None], backoff: Callable[[], Backoff] = Backoff) -> None:
        self._say, self._backoff = say, backoff
        self._tasks: list[asyncio.Task[None]] = []
        self.failed = asyncio.Event()
        self.failure = ""

    @property
    def names(self) -> list[str]:
        return [task.get_name() for task in self._tasks if not task.done()]

    def spawn(self, name: str, run: Run, *, restart: bool = False) -> None:
        self._tasks.append(asyncio.create_task(self._supervise(name, run, restart), name=name))

    async def _supervise(self, name: str, run: Run, restart: bool) -> None:
        backoff = self._backoff()
        while True:
            started = time.monotonic()
            try:
                await run()
                raise RootTaskReturned(f"the {name} task returned; it must run until smimesh up stops")
            except Exception as exc:  # a root task's crash is reported, never lost
                self._say(f"internal error in the {name} task:\n{traceback.format_exc().rstrip()}")
                if not restart:
                    self._fail(name, exc)
                    return
                delay = backoff.next_delay(started, time.monotonic())
                self._say(f"restarting the {name} task in {delay:.1f} s")
                await asyncio.sleep(delay)

    def _fail(self, name: str, exc: Exception) -> None:
        if not self.failed.is_set():
            self.failure = f"the {name} task failed ({type(exc).__name__}: {exc})"
            self.failed.set()

    async def stop(self) -> None:
        """Cancel every task and wait for them (safe to call twice)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
