"""The last lines of a child's stderr: copied into its log file as they come, the tail kept in memory.

Owns `StderrTail`. A crashed app's last words are nearly always on stderr (a traceback, "address
already in use", "missing config"), so `smimesh up` shows them next to "exited (exit code 2)"
instead of sending the user to the log. The child writes into a plain pipe that the event loop
reads (`add_reader`), not an asyncio subprocess pipe: asyncio waits for its own pipes to close
before `wait()` returns, and a grandchild holding stderr open would then block the reaping that
kills it. The log keeps everything; memory keeps only the last `lines` lines (each cut at
`MAX_LINE` characters).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os

MAX_LINE = 300
_READ = 65536
_DRAIN_S = 0.5  # after the child exited, how long grandchildren may keep its stderr open


class StderrTail:
    """Create with the log's fd still open; pass `write_fd` to the child as stderr, then `started()`."""

    def __init__(self, log_fd: int, lines: int) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self._log_fd = os.dup(log_fd)
        self._lines: collections.deque[bytes] = collections.deque(maxlen=lines)
        self._partial = b""
        self._ended = asyncio.Event()

    def started(self) -> None:
        """The child holds the write end now: close ours (EOF comes when the child's copies close)."""
        os.close(self.write_fd)
        asyncio.get_running_loop().add_reader(self.read_fd, self._readable)

    def failed(self) -> None:
        """The child never started: release everything."""
        os.close(self.write_fd)
        self._close()

    def lines(self) -> list[str]:
        kept = [*self._lines, self._partial] if self._partial.strip() else list(self._lines)
        return [line[:MAX_LINE].decode(errors="replace").rstrip() for line in kept if line.strip()]

    async def drained(self) -> None:
        """Wait (bounded) until everything the child wrote is read; then stop reading."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), _DRAIN_S)
        self._close()

    def _readable(self) -> None:
        try:
            chunk = os.read(self.read_fd, _READ)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close()
            return
        with contextlib.suppress(OSError):
            os.write(self._log_fd, chunk)
        *complete, partial = (self._partial + chunk).split(b"\n")
        self._lines.extend(line[:MAX_LINE] for line in complete)
        self._partial = partial[: MAX_LINE * 4]  # a line without end: its beginning is enough

    def _close(self) -> None:
        if self._ended.is_set():
            return
        self._ended.set()
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.read_fd)
        os.close(self.read_fd)
        os.close(self._log_fd)
