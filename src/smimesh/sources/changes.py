"""Change notification of the resource store: generations, coalesced per subscriber.

The store bumps a generation number on every change of what is in force and records when it
happened (`time.monotonic()`). A subscriber is an async iterator of `StoreChange`: each item
says the newest generation and when the OLDEST change it has not yet seen happened (the start
of the change→ACK clock). A slow subscriber never builds a backlog: any number of changes
between two reads arrive as one item. The first read returns at once with the current
generation, so a consumer that starts late still builds once.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from dataclasses import dataclass

# How many change times are remembered for `changed_at`; older ones are clamped to the oldest.
_HISTORY = 4096


@dataclass(frozen=True, slots=True)
class StoreChange:
    generation: int
    changed_at: float  # time.monotonic() of the oldest change this subscriber had not seen


class ChangeLog:
    """Generation counter + change times + the set of subscribers to wake."""

    def __init__(self) -> None:
        self.generation = 0
        self._times: deque[tuple[int, float]] = deque(maxlen=_HISTORY)
        self._subscribers: weakref.WeakSet[Subscription] = weakref.WeakSet()

    def record(self, at: float) -> None:
        self.generation += 1
        self._times.append((self.generation, at))
        for subscriber in list(self._subscribers):
            subscriber.wake()

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    def first_change_after(self, generation: int) -> float | None:
        for gen, at in self._times:
            if gen > generation:
                return at
        return None


class Subscription:
    """`async for change in store.subscribe(): ...` — see the module docstring."""

    def __init__(self, log: ChangeLog) -> None:
        self._log = log
        self._seen: int | None = None
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StoreChange:
        while self._seen is not None and self._log.generation <= self._seen:
            self._event.clear()
            await self._event.wait()
        last_seen = -1 if self._seen is None else self._seen
        self._seen = self._log.generation
        changed_at = self._log.first_change_after(last_seen) or time.monotonic()
        return StoreChange(self._seen, changed_at)
