"""Restart backoff for crashed processes: exponential, capped, forgiven after a healthy run.

Pure: time is a parameter. A process that crashes right after starting waits 0.5 s, 1 s, 2 s ...
up to the cap before the next try; one that ran at least `healthy_after_s` before dying is
treated as a fresh failure (back to the initial delay), so a long-lived service that crashes
once a day restarts at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 10.0
    factor: float = 2.0
    healthy_after_s: float = 10.0
    failures: int = 0

    def next_delay(self, started_at: float, exited_at: float) -> float:
        """Record an exit of a run that started at `started_at`; return how long to wait before restarting."""
        if exited_at - started_at >= self.healthy_after_s:
            self.failures = 0
        delay = min(self.max_s, self.initial_s * self.factor**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
