"""The guardian: a tiny helper process that kills every child process group when `smimesh up` dies.

`PR_SET_PDEATHSIG` kills the direct children of `smimesh up` when it dies, but not what they
started (a `sh -c` wrapper's program, a workload's own worker processes). Every child runs in its
own process group, so killing the groups kills those too — but a SIGKILLed `smimesh up` cannot do
it. The guardian can: it reads `+PGID` / `-PGID` lines on a pipe whose only writer is `smimesh up`;
when that pipe reaches end-of-file (`smimesh up` is gone, however it died, or it closed it on a
clean stop), it SIGKILLs every group still registered and exits. It ignores SIGINT (a Ctrl-C in
the terminal is for `smimesh up`, which stops things in order) and runs in its own session.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

_SCRIPT = r"""
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class Guardian:
    """`start()`, then `watch(pgid)` / `unwatch(pgid)` per child; `close()` on a clean stop."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Guardian:
        # The pipe's write end stays in this process only (Python fds are close-on-exec), so
        # end-of-file means exactly "smimesh up is gone".
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-c", _SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}\n")

    def unwatch(self, pgid: int) -> None:
        self._send(f"-{pgid}\n")

    def close(self, timeout_s: float = 2.0) -> None:
        process, self._process = self._process, None
        if process is None or process.stdin is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _send(self, line: str) -> None:
        if self._process is None or self._process.stdin is None:
            return
        with contextlib.suppress(OSError):  # a dead guardian must not stop the mesh
            self._process.stdin.write(line.encode())
            self._process.stdin.flush()
