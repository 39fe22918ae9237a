"""The sliding window with virtual time: deltas, baselines, resets, window edges, bounded memory."""

from __future__ import annotations

from smimesh.telemetry.edges import INBOUND, OUTBOUND, Reading, Series
from smimesh.telemetry.scrape import Bin
from smimesh.telemetry.window import SlidingWindow

OUT = Series(OUTBOUND, "client-0.shop", "shop/store")
IN = Series(INBOUND, "store-0.shop", "http")


def reading(success: float, failure: float = 0, *bins: Bin) -> Reading:
    return Reading(success, failure, tuple(bins))


def test_first_scrape_is_only_a_baseline() -> None:
    window = SlidingWindow(300, 1)
    window.observe("client-0.shop", {OUT: reading(1000, 7)}, now=100)
    assert window.totals(300, 100)[OUT].success == 0 if OUT in window.totals(300, 100) else True
    window.observe("client-0.shop", {OUT: reading(1010, 9)}, now=101)
    totals = window.totals(300, 101)[OUT]
    assert (totals.success, totals.failure) == (10, 2)


def test_series_born_after_the_first_scrape_counts_from_zero() -> None:
    window = SlidingWindow(300, 1)
    window.observe("client-0.shop", {}, now=100)
    window.observe("client-0.shop", {OUT: reading(3, 1)}, now=101)
    assert (window.totals(300, 101)[OUT].success, window.totals(300, 101)[OUT].failure) == (3, 1)


def test_a_restarted_sidecar_starts_again_from_zero() -> None:
    window = SlidingWindow(300, 1)
    window.observe("client-0.shop", {OUT: reading(50)}, now=100)
    window.observe("client-0.shop", {OUT: reading(60)}, now=101)
    window.observe("client-0.shop", {OUT: reading(4)}, now=102)  # restarted: 4 new requests
    assert window.totals(300, 102)[OUT].success == 14


def test_histogram_deltas_per_bin() -> None:
    window = SlidingWindow(300, 1)
    window.observe("s", {IN: reading(0, 0, Bin(4, 0.1, 5))}, now=10)
    window.observe("s", {IN: reading(2, 0, Bin(4, 0.1, 6), Bin(50, 1, 1))}, now=11)
    assert window.totals(300, 11)[IN].latency_bins() == (Bin(4, 0.1, 1), Bin(50, 1, 1))


def test_a_short_window_sees_only_recent_slots() -> None:
    window = SlidingWindow(300, 1)
    window.observe("c", {OUT: reading(0)}, now=0)
    for second in range(1, 61):
        window.observe("c", {OUT: reading(second * 10)}, now=second + 0.5)
    assert window.totals(10, 60.5)[OUT].success == 100
    assert window.totals(60, 60.5)[OUT].success == 600
    assert window.totals(1000, 60.5)[OUT].success == 600  # capped at the maximum


def test_memory_is_bounded_by_the_maximum_window() -> None:
    window = SlidingWindow(max_window_s=30, slot_s=1)
    window.observe("c", {OUT: reading(0)}, now=0)
    for second in range(1, 2000):
        window.observe("c", {OUT: reading(second, 0, Bin(float(second % 90 + 10), 1, second))}, now=second)
    assert len(window._slots[OUT]) <= 31  # max_window / slot + 1
    assert window.totals(30, 1999)[OUT].success == 30  # 1970 .. 1999, one per second


def test_forgotten_instances_age_out() -> None:
    window = SlidingWindow(max_window_s=10, slot_s=1)
    window.observe(OUT.instance, {OUT: reading(0)}, now=0)
    window.observe(OUT.instance, {OUT: reading(5)}, now=1)
    assert window.totals(10, 1)[OUT].success == 5
    window.forget(OUT.instance)
    window.observe("other", {}, now=30)
    assert OUT not in set(window.series())
    assert window.totals(10, 30) == {}
