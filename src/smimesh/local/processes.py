"""One child process of `smimesh up` (a workload or an Envoy sidecar): start, wait, stop.

Owns how a child is started so that it can never outlive `smimesh up`:
- its own session and process group (`start_new_session`), so a Ctrl-C in the terminal reaches
  `smimesh up` only, which then stops children in order, and a stop signal reaches the whole group
  (a `sh -c` wrapper and what it started);
- on Linux, `PR_SET_PDEATHSIG=SIGKILL`, so the kernel kills it the moment `smimesh up` dies, even
  by SIGKILL. It is set by util-linux's `setpriv --pdeathsig KILL` (always present on Debian and
  Fedora) wrapped around the command: without a `preexec_fn`, Python starts the child with vfork,
  which runs no fork handlers — forking a process that hosts gRPC threads runs gRPC's handlers in
  the child, and they can abort it before exec. Without setpriv, a `preexec_fn` calls prctl
  through ctypes (and exits at once if the parent is already gone).
The command is resolved (cwd, PATH) before starting, so "no such program" is a clear error.
Output (stdout and stderr) is appended to the child's log file, with a marker line per start; with
`stderr_tail_lines`, stderr goes through `StderrTail` so its last lines are at hand when it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from smimesh.errors import ProcessError
from smimesh.local.guardian import Guardian
from smimesh.local.stderr_tail import StderrTail

_PR_SET_PDEATHSIG = 1
# Resolved in the parent: loading a library in the child between fork and exec could deadlock.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_SETPRIV = shutil.which("setpriv") if _prctl is not None else None


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def in_child_before_exec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent died before we could ask to die with it

    return in_child_before_exec


def _with_parent_death_signal(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """`argv` wrapped so that the child dies with us, and the `preexec_fn` that needs (if any)."""
    if _prctl is None:
        return argv, None
    if _SETPRIV is not None:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _die_with_parent(os.getpid())


def resolve_program(program: str, cwd: Path, env: Mapping[str, str]) -> str:
    """The executable `program` names, as the child would find it; ProcessError if there is none."""
    if "/" in program:
        candidate = (cwd / program) if not os.path.isabs(program) else Path(program)
        found = str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None
    else:
        found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise ProcessError(
            f"cannot run {program!r}: no such executable (cwd {cwd})",
            hint="check the Workload's spec.command (and PATH, spec.workingDir)",
        )
    return found


def _prepare(
    label: str, argv: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> tuple[list[str], Callable[[], None] | None]:
    if not os.path.isdir(cwd):
        raise ProcessError(
            f"{label}: working directory {cwd} does not exist", hint="check the Workload's spec.workingDir"
        )
    program = resolve_program(argv[0], cwd, env)
    return _with_parent_death_signal([program, *argv[1:]])


class ChildProcess:
    """A started child. Create with `await ChildProcess.spawn(...)`."""

    def __init__(
        self,
        label: str,
        process: asyncio.subprocess.Process,
        guardian: Guardian | None = None,
        stderr: StderrTail | None = None,
    ) -> None:
        self.label = label
        self.pid = process.pid
        self.started_at = time.monotonic()
        self._process = process
        self._guardian = guardian
        self._stderr = stderr
        self._reaped = False
        if guardian is not None:
            guardian.watch(self.pid)  # its process group == its pid (new session)

    @classmethod
    async def spawn(
        cls,
        label: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_path: Path,
        guardian: Guardian | None = None,
        stderr_tail_lines: int = 0,
    ) -> ChildProcess:
        """Start `argv`; raise `ProcessError` (with the reason) if it cannot be executed at all."""
        command, preexec = _prepare(label, argv, cwd, env)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        tail = StderrTail(log, stderr_tail_lines) if stderr_tail_lines > 0 else None
        try:
            os.write(log, f"--- smimesh: starting {label}: {' '.join(argv)} (cwd {cwd})\n".encode())
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                env=dict(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT if tail is None else tail.write_fd,
                start_new_session=True,
                preexec_fn=preexec,
            )
        except OSError as exc:
            if tail is not None:
                tail.failed()
            os.write(log, f"--- smimesh: cannot start: {exc}\n".encode())
            raise ProcessError(
                f"{label}: cannot run {argv[0]!r} in {cwd}: {exc.strerror or exc}",
                hint="check the Workload's spec.command and spec.workingDir",
            ) from exc
        finally:
            os.close(log)
        if tail is not None:
            tail.started()
        return cls(label, process, guardian, tail)

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def wait(self) -> int:
        """Wait for the child to end, then kill what it left in its process group."""
        code = await self._process.wait()
        self._reap_group()
        if self._stderr is not None:
            await self._stderr.drained()
        return code

    def stderr_tail(self) -> list[str]:
        """The last lines it wrote to stderr (only when spawned with `stderr_tail_lines`)."""
        return self._stderr.lines() if self._stderr is not None else []

    async def stop(self, grace_s: float) -> int:
        """SIGTERM to the group, SIGKILL after `grace_s`; also kills what the child left in its group."""
        if self._process.returncode is None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), grace_s)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
        return await self.wait()

    def _reap_group(self) -> None:
        if self._reaped:
            return
        self._reaped = True
        self._signal_group(signal.SIGKILL)  # stragglers: what a wrapper script or the app started
        if self._guardian is not None:
            self._guardian.unwatch(self.pid)

    def kill_now(self) -> None:
        """SIGKILL the group without waiting (last resort, e.g. from an exit handler)."""
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


async def wait_listening(host: str, port: int, timeout_s: float) -> bool:
    """True once something accepts TCP connections on host:port; False after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


def describe_exit(code: int) -> str:
    """`exit code 3` or `killed by SIGKILL` for a return code as asyncio reports it."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
