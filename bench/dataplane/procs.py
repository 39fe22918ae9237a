"""Processes of the data-plane benchmark: CPU placement, start/stop, CPU seconds and RSS from /proc.

Placement (on the 2-core machine this runs on): the load generator and the backend share CPU 0, the
proxies get CPU 1. The proxies are what is measured, so they get a core the load generator cannot
steal from them; the generator and backend are identical on every path (direct included), so their
cost cancels out of "added latency over direct". With more cores the backend moves to a core of its
own and the proxies share the rest; with one core everything shares it (and the report says so).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Placement:
    load: frozenset[int]
    backend: frozenset[int]
    proxies: frozenset[int]

    def describe(self) -> dict[str, list[int] | str]:
        return {
            "load_generator": sorted(self.load),
            "backend": sorted(self.backend),
            "proxies": sorted(self.proxies),
            "why": "proxies (what is measured) on a core of their own; load generator and backend are the"
            " same on every path, direct included, so their share cancels out of the added latency",
        }


def placement() -> Placement:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) == 1:
        one = frozenset(cpus)
        return Placement(one, one, one)
    if len(cpus) == 2:
        return Placement(frozenset(cpus[:1]), frozenset(cpus[:1]), frozenset(cpus[1:]))
    return Placement(frozenset(cpus[:1]), frozenset(cpus[1:2]), frozenset(cpus[2:]))


def pin_all_threads(pid: int, cpus: frozenset[int]) -> None:
    """Pin every thread of `pid` (Envoy's workers already exist when we get to pin a mesh sidecar)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except (ProcessLookupError, PermissionError):
            continue


def start(
    command: Sequence[str], cpus: frozenset[int], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` already pinned to `cpus` (set before exec, so every thread inherits it)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus),
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rfind(")") + 2 :].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
