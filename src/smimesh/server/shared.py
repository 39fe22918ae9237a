"""What the streams of one server share instead of each holding its own copy, and a stream's mailbox.

Owns `SharedNames` (resource names and subscription sets interned by content: a thousand proxies
subscribing to the same fifty route or endpoint names hold one frozenset of one set of strings,
not a thousand) and `Mailbox` (the one-consumer queue of a stream: its requests, change notices
and resend timers). Both exist for memory per connected proxy (issue 10: <= 100 KB): what a stream
keeps is multiplied by every sidecar.
"""

from __future__ import annotations

import asyncio
import sys
from collections import OrderedDict
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

_SETS_CAPACITY = 16_384  # distinct subscription sets remembered (least recently used go first)


class SharedNames:
    """Interns subscription sets by content; their names are interned strings.

    Content-keyed, so sharing never mixes proxies up: two streams get the same object only when
    they asked for exactly the same names (and a frozenset cannot be changed by either).
    """

    def __init__(self, capacity: int = _SETS_CAPACITY) -> None:
        self._capacity = capacity
        self._sets: OrderedDict[frozenset[str], frozenset[str]] = OrderedDict()

    def names(self, names: Iterable[str]) -> frozenset[str]:
        wanted = frozenset(map(sys.intern, names))
        found = self._sets.get(wanted)
        if found is not None:
            self._sets.move_to_end(wanted)
            return found
        self._sets[wanted] = wanted
        if len(self._sets) > self._capacity:
            self._sets.popitem(last=False)
        return wanted

    def __len__(self) -> int:
        return len(self._sets)


class Mailbox(Generic[T]):
    """An unbounded FIFO with one consumer: a list and at most one waiting future.

    `asyncio.Queue` would do, but it carries four deques (about 3 KB) per stream for a queue that
    rarely holds more than two items."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)
