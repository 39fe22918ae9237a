"""Suite-wide options and guards. `--update-golden` refreshes the golden files.

Guard: no test may leave a process behind (an Envoy, a workload, a `smimesh up`).

At the end of the session every descendant of the pytest process that is still alive is listed,
killed, and the run fails: an orphan in a test is an orphan a user would get.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest


def _descendants(root: int) -> list[tuple[int, str]]:
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # comm may contain spaces and parentheses: split on the last ')'.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        names[pid] = comm
    found: list[tuple[int, str]] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append((child, names[child]))
            stack.append(child)
    return found


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite golden files of generated Envoy config (tests/xds/golden) instead of comparing",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leftovers = _descendants(os.getpid())
    if not leftovers:
        return
    for pid, _ in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    listing = ", ".join(f"{name}[{pid}]" for pid, name in leftovers)
    print(f"\nERROR: tests left processes behind (killed now): {listing}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
