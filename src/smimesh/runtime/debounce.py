"""Debounce: coalesce a burst of changes into one rebuild, without holding any change back for long.

Owns `Debouncer`, a plain value with no clock and no tasks of its own (time is a parameter, so it
is tested with virtual time): after a change, act once `quiet_s` has passed with no further change,
but never later than `max_wait_s` after the first change of the burst. `wait_until_due()` is the
small async loop the pipeline runs on top of it, with the clock and the wake-up event injected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Debouncer:
    quiet_s: float
    max_wait_s: float
    first_at: float | None = None  # first change of the pending burst
    last_at: float | None = None  # latest change of the pending burst

    def changed(self, now: float) -> None:
        """Record a change at `now`."""
        if self.first_at is None:
            self.first_at = now
        self.last_at = now

    @property
    def pending(self) -> bool:
        return self.first_at is not None

    def due_at(self) -> float | None:
        """When the pending burst should be acted on; None if nothing is pending."""
        if self.first_at is None or self.last_at is None:
            return None
        return min(self.last_at + self.quiet_s, self.first_at + self.max_wait_s)

    def is_due(self, now: float) -> bool:
        due = self.due_at()
        return due is not None and now >= due

    def take(self) -> float | None:
        """Consume the pending burst; returns when its first change happened (None if none)."""
        first, self.first_at, self.last_at = self.first_at, None, None
        return first


async def wait_until_due(debouncer: Debouncer, wake: asyncio.Event, clock: Callable[[], float]) -> None:
    """Return once a burst is pending and due; `wake` is set by whoever calls `debouncer.changed()`."""
    while True:
        due = debouncer.due_at()
        if due is None:
            wake.clear()
            await wake.wait()
            continue
        remaining = due - clock()
        if remaining <= 0:
            return
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), remaining)
