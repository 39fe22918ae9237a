"""The debounce rule, with virtual time: quiet period, maximum wait, bursts coalesced."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from smimesh.runtime.debounce import Debouncer, wait_until_due
from smimesh.settings import Settings


def test_defaults_meet_the_issue() -> None:
    assert Settings().debounce_quiet_s <= 0.020
    assert Settings().debounce_max_wait_s >= Settings().debounce_quiet_s


def test_nothing_pending_is_never_due() -> None:
    debouncer = Debouncer(0.01, 0.1)
    assert debouncer.due_at() is None and not debouncer.is_due(1e9) and debouncer.take() is None


def test_single_change_is_due_after_the_quiet_period() -> None:
    debouncer = Debouncer(0.01, 0.1)
    debouncer.changed(5.0)
    assert not debouncer.is_due(5.009)
    assert debouncer.is_due(5.010)
    assert debouncer.take() == 5.0 and not debouncer.pending


def test_each_change_in_a_burst_restarts_the_quiet_period() -> None:
    debouncer = Debouncer(0.01, 0.1)
    for t in (0.0, 0.005, 0.012):
        debouncer.changed(t)
    assert debouncer.due_at() == 0.012 + 0.01


def test_a_steady_stream_of_changes_is_still_acted_on_at_max_wait() -> None:
    debouncer = Debouncer(0.01, 0.1)
    t = 0.0
    while not debouncer.is_due(t):
        debouncer.changed(t)
        t += 0.005  # faster than the quiet period: only max_wait can end the burst
    assert abs(t - 0.1) < 1e-9


@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), min_size=1, max_size=50))
def test_due_is_never_later_than_max_wait_nor_earlier_than_quiet(times: list[float]) -> None:
    debouncer = Debouncer(0.01, 0.1)
    for t in sorted(times):
        debouncer.changed(t)
    due = debouncer.due_at()
    assert due is not None
    assert due <= min(times) + 0.1 + 1e-12
    assert due <= max(times) + 0.01 + 1e-12
    assert due >= min(times) + 0.01 - 1e-12


async def test_wait_until_due_wakes_on_a_change_and_waits_for_quiet() -> None:
    debouncer, wake = Debouncer(0.02, 1.0), asyncio.Event()
    loop = asyncio.get_running_loop()
    waiter = asyncio.create_task(wait_until_due(debouncer, wake, loop.time))
    await asyncio.sleep(0.01)
    assert not waiter.done()  # nothing pending: it sleeps on the event
    started = loop.time()
    debouncer.changed(loop.time())
    wake.set()
    await waiter
    assert loop.time() - started >= 0.02
