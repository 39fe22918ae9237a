"""How much of the machine other work took while a benchmark measured a wall-clock figure.

Owns `CpuShare`: between `start()` and `stop()`, the machine's busy CPU time (/proc/stat) minus the
CPU time of the benchmark's own processes (given by pid, every thread counted: /proc/<pid>/stat), as
cores used by others on average over the window. A wall-clock figure measured while other work held
a good share of the cores describes waiting for a core, not the code: such a run gives no verdict
("not measurable in this run", the project's rule for benchmarks on a shared machine).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal (idle and iowait are not busy)


def machine_busy_ticks() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[index]) for index in _BUSY_FIELDS)


def process_ticks(pid: int) -> int:
    """utime + stime of every thread of `pid` (0 if it has gone)."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(after_name[11]) + int(after_name[12])  # fields 14 and 15 of proc(5)


@dataclass
class CpuShare:
    """Cores used by others than `pids` on average between `start()` and `stop()`."""

    pids: list[int] = field(default_factory=lambda: [os.getpid()])
    _at: tuple[float, int, int] = (0.0, 0, 0)

    def _now(self) -> tuple[float, int, int]:
        return time.monotonic(), machine_busy_ticks(), sum(process_ticks(pid) for pid in self.pids)

    def start(self) -> None:
        self._at = self._now()

    def stop(self) -> dict[str, float]:
        (t0, busy0, own0), (t1, busy1, own1) = self._at, self._now()
        window = max(t1 - t0, 1e-9)
        others = max(0, (busy1 - busy0) - (own1 - own0)) / TICKS_PER_S / window
        return {"window_s": round(window, 3), "other_cores": round(others, 3),
                "own_cores": round((own1 - own0) / TICKS_PER_S / window, 3)}  # fmt: skip
