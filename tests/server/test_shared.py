"""What the streams of one server share (server.shared): interned subscription sets, the mailbox."""

from __future__ import annotations

import asyncio

from smimesh.server.shared import Mailbox, SharedNames


def test_equal_subscriptions_are_one_object_and_different_ones_stay_apart() -> None:
    shared = SharedNames()
    one = shared.names(["route-a", "route-b"])
    assert shared.names(iter(["route-b", "route-a"])) is one
    other = shared.names(["route-a"])
    assert other == {"route-a"} and other is not one and one == {"route-a", "route-b"}


def test_the_oldest_sets_go_first_beyond_capacity() -> None:
    shared = SharedNames(capacity=2)
    first = shared.names(["a"])
    shared.names(["b"])
    shared.names(["c"])
    assert len(shared) == 2 and shared.names(["a"]) == first


async def test_mailbox_delivers_in_order_and_wakes_its_reader() -> None:
    box: Mailbox[int] = Mailbox()
    box.put_nowait(1)
    reader = asyncio.create_task(_take(box, 3))
    await asyncio.sleep(0)
    box.put_nowait(2)
    box.put_nowait(3)
    assert await asyncio.wait_for(reader, 5) == [1, 2, 3]


async def test_a_cancelled_reader_leaves_the_mailbox_usable() -> None:
    box: Mailbox[str] = Mailbox()
    waiting = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    box.put_nowait("after")
    assert await asyncio.wait_for(box.get(), 5) == "after"


async def _take(box: Mailbox[int], count: int) -> list[int]:
    return [await box.get() for _ in range(count)]
