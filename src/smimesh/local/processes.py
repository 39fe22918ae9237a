"""One child process of `smimesh up` (a workload or an Envoy sidecar): start, wait, stop.

Owns how a child is started so that it can never outlive `smimesh up`:
- its own session and process group (`start_new_session`), so a Ctrl-C in the terminal reaches
  `smimesh up` only, which then stops children in order, and a stop signal reaches the whole group
  (a `sh -c` wrapper and what it started);
- on Linux, `PR_SET_PDEATHSIG=SIGKILL` set in the child before exec (prctl through ctypes), so the
  kernel kills it the moment `smimesh up` dies, even by SIGKILL; if the parent is already gone by
  then, the child exits at once instead of running orphaned.
Output (stdout and stderr) is appended to the child's log file, with a marker line per start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from smimesh.errors import ProcessError

_PR_SET_PDEATHSIG = 1
# Resolved in the parent: loading a library in the child between fork and exec could deadlock.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def in_child_before_exec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent died before we could ask to die with it

    return in_child_before_exec


class ChildProcess:
    """A started child. Create with `await ChildProcess.spawn(...)`."""

    def __init__(self, label: str, process: asyncio.subprocess.Process) -> None:
        self.label = label
        self.pid = process.pid
        self.started_at = time.monotonic()
        self._process = process

    @classmethod
    async def spawn(
        cls, label: str, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], log_path: Path
    ) -> ChildProcess:
        """Start `argv`; raise `ProcessError` (with the reason) if it cannot be executed at all."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(log, f"--- smimesh: starting {label}: {' '.join(argv)} (cwd {cwd})\n".encode())
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except OSError as exc:
            os.write(log, f"--- smimesh: cannot start: {exc}\n".encode())
            raise ProcessError(
                f"{label}: cannot run {argv[0]!r} in {cwd}: {exc.strerror or exc}",
                hint="check the Workload's spec.command and spec.workingDir",
            ) from exc
        finally:
            os.close(log)
        return cls(label, process)

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        return await self._process.wait()

    async def stop(self, grace_s: float) -> int:
        """SIGTERM to the group, SIGKILL after `grace_s`; also kills what the child left in its group."""
        if self._process.returncode is None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), grace_s)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
        code = await self._process.wait()
        self._signal_group(signal.SIGKILL)  # stragglers of a wrapper script
        return code

    def kill_now(self) -> None:
        """SIGKILL the group without waiting (last resort, e.g. from an exit handler)."""
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def describe_exit(code: int) -> str:
    """`exit code 3` or `killed by SIGKILL` for a return code as asyncio reports it."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
