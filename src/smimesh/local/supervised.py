"""One supervised process: started, watched, restarted with backoff when it dies, stopped on request.

Owns the restart loop of a single child and its visible state (`starting`, `running`, `backoff`,
`stopped`). Every unexpected exit is announced on the console with what died, how, when the next
try is and the last lines of its stderr; a child that does not serve (its probe) within
`not_serving_after_s` is reported with `not_serving()`'s reason, e.g. the port it was given and
does not listen on — a user never has to guess why a workload is not answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from smimesh.errors import ProcessError
from smimesh.local.backoff import Backoff
from smimesh.local.processes import ChildProcess, describe_exit

Launch = Callable[[], Awaitable[ChildProcess]]
# `ready` is awaited before each start (e.g. "my sidecar listens"); `probe` after it, until the
# child serves (e.g. "my ports accept connections"): the state is `starting` until then.
Ready = Callable[[], Awaitable[object]]
Announce = Callable[[str], None]
# Why the probe has not passed yet, in words (e.g. "not listening on 127.0.0.1:40123 ($PORT)").
Explain = Callable[[], Awaitable[str]]


@dataclass(slots=True)
class ProcessState:
    label: str
    state: str = "starting"
    pid: int | None = None
    restarts: int = 0
    last_exit: str = ""
    note: str = ""  # what is wrong while it stays `starting` (cleared on every change of state)
    stderr_tail: list[str] = field(default_factory=list)  # its last lines on stderr, at the last exit

    def to_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "note": self.note,
            "stderr_tail": list(self.stderr_tail),
        }


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
        not_serving: Explain | None = None,
        not_serving_after_s: float = 5.0,
    ) -> None:
        self.status = ProcessState(label)
        self._not_serving, self._not_serving_after_s = not_serving, not_serving_after_s
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
                f"(restart {self.status.restarts})" + self._stderr_text()
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
        self._child = None
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
        """`running` once the probe says the child serves (at once without a probe); if that takes
        longer than `not_serving_after_s`, say why (once per start) and keep waiting."""
        if self._probe is not None and self._not_serving is not None:
            try:
                await asyncio.wait_for(self._probe(), self._not_serving_after_s)
            except TimeoutError:
                self.status.note = await self._not_serving()
                if self.status.note:
                    self._announce(f"{self.status.label} {self.status.note}")
        if self._probe is not None:
            await self._probe()
        self._enter("running")

    def _stderr_text(self) -> str:
        """The child's last stderr lines for the exit announcement (a repeat is only referred to)."""
        tail = self._child.stderr_tail() if self._child is not None else []
        if not tail:
            return ""
        if tail == self.status.stderr_tail:
            return "; its stderr ended as on the previous exit"
        self.status.stderr_tail = tail
        lines = "\n".join(f"  | {line}" for line in tail)
        return f"; last lines of its stderr:\n{lines}"

    def _enter(self, state: str) -> None:
        if state != self.status.state:
            self.status.state, self.status.note = state, ""
            if self._on_state is not None:
                self._on_state()
