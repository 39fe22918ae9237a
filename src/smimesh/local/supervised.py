"""One supervised process: started, watched, restarted with backoff when it dies, stopped on request.

Owns the restart loop of a single child and its visible state (`starting`, `running`, `backoff`,
`stopped`). Every unexpected exit is announced on the console with what died, how, and when the
next try is — a user never has to guess why a workload is not answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from smimesh.errors import ProcessError
from smimesh.local.backoff import Backoff
from smimesh.local.processes import ChildProcess, describe_exit

Launch = Callable[[], Awaitable[ChildProcess]]
# `ready` is awaited before each start (e.g. "my sidecar listens"); `probe` after it, until the
# child serves (e.g. "my ports accept connections"): the state is `starting` until then.
Ready = Callable[[], Awaitable[object]]
Announce = Callable[[str], None]


@dataclass(slots=True)
class ProcessState:
    label: str
    state: str = "starting"
    pid: int | None = None
    restarts: int = 0
    last_exit: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"state": self.state, "pid": self.pid, "restarts": self.restarts, "last_exit": self.last_exit}


class Supervised:
    """Runs `launch()` again and again until `stop()`; the owner awaits `stop()` for a clean end."""

    def __init__(
        self,
        label: str,
        launch: Launch,
        backoff: Backoff,
        announce: Announce,
        grace_s: float,
        ready: Ready | None = None,
        probe: Ready | None = None,
        on_state: Callable[[], None] | None = None,
    ) -> None:
        self.status = ProcessState(label)
        self._launch = launch
        self._ready = ready
        self._probe = probe
        self._on_state = on_state  # told after every change of `status.state`
        self._backoff = backoff
        self._announce = announce
        self._grace_s = grace_s
        self._child: ChildProcess | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def child(self) -> ChildProcess | None:
        return self._child

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"supervise {self.status.label}")

    async def stop(self) -> None:
        """Stop the child gracefully (SIGTERM, SIGKILL after the grace) and end the restart loop."""
        self._stopping.set()
        if self._task is not None:
            # shielded: if our caller is cancelled, the loop still finishes stopping the child
            await asyncio.shield(self._task)
        self.status.pid = None
        self._enter("stopped")

    def kill_now(self) -> None:
        if self._child is not None:
            self._child.kill_now()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            exit_text = await self._run_once()
            if self._stopping.is_set():
                return
            delay = self._backoff.next_delay(started, time.monotonic())
            self.status.restarts += 1
            self.status.pid, self.status.last_exit = None, exit_text
            self._enter("backoff")
            self._announce(
                f"{self.status.label} {exit_text}; restarting in {delay:.1f}s "
                f"(restart {self.status.restarts})"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _until_stopping(self, waiting: Awaitable[object]) -> bool:
        """Await `waiting` unless stop() comes first (then cancel it and return False)."""
        work = asyncio.ensure_future(waiting)
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for future in (work, stopping):
            future.cancel()
        await asyncio.gather(work, stopping, return_exceptions=True)
        return not self._stopping.is_set()

    async def _run_once(self) -> str:
        """Start the child and wait for it to end; return how it ended, as a phrase."""
        self._enter("starting")
        if self._ready is not None and not await self._until_stopping(self._ready()):
            return "stopped before it started"
        try:
            child = await self._launch()
        except ProcessError as exc:
            return f"could not start ({exc.message})"
        self._child = child
        self.status.pid = child.pid
        exited = asyncio.ensure_future(child.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        serving = asyncio.ensure_future(self._serving())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for future in (stopping, serving):
            future.cancel()
        if not exited.done():
            exited.cancel()
            await child.stop(self._grace_s)
        code = await child.wait()
        return f"exited ({describe_exit(code)})"

    async def _serving(self) -> None:
        """`running` once the probe says the child serves (at once without a probe)."""
        if self._probe is not None:
            await self._probe()
        self._enter("running")

    def _enter(self, state: str) -> None:
        if state != self.status.state:
            self.status.state = state
            if self._on_state is not None:
                self._on_state()
