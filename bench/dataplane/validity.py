"""When a B1 verdict may be given at all: the rules that make a run "not measurable" for a target.

A ratio between two paths only means something when both were measured as planned. On a shared
machine they sometimes are not, and then the report says "not measurable in this run" and why,
instead of met / NOT met (the last report marked an added p99 of 281 ms "met" because the baseline's
own p99 was 695 ms: the machine had stalled, not the proxies). The rules, per target kind:

- generator lag (cpu, p50, p99): the constant-rate generator released fewer than
  GENERATOR_MIN_SHARE of the asked requests per second on the mesh path, its reference or direct
  (added latency subtracts direct's). Latency and CPU per request at "1,000 req/s" then describe a
  lower rate.
- baseline tail (p99): the reference pair's own p99 is more than BASELINE_TAIL_FACTOR times its p50,
  or it adds more than BASELINE_ADDED_P99_CEILING_MS over direct. An Envoy pair on loopback has a p99
  within a few times its p50 and adds well under a millisecond; a tail that far off is the machine
  (another process on the proxies' core), and any ratio to it is noise.
- baseline median (p50): the reference pair adds more than BASELINE_ADDED_P50_CEILING_MS at p50 over
  direct. With its core to itself it adds about half a millisecond here (0.5 ms in the quiet runs);
  more means it waited for that core behind other processes, and a ratio to it says nothing.
- max-rate spread (max): the best of wrk's rounds on the mesh path or its reference is more than
  MAX_SPREAD times their median: the machine's spare capacity changed between rounds by more than the
  difference being measured. (Best / median, not best / worst: with 12 short rounds one disturbed
  round is expected, and the verdict reads the best round, which that one does not move.)
"""

from __future__ import annotations

import statistics
from typing import Any

GENERATOR_MIN_SHARE = 0.95
BASELINE_TAIL_FACTOR = 20.0
BASELINE_ADDED_P99_CEILING_MS = 10.0
BASELINE_ADDED_P50_CEILING_MS = 2.0
MAX_SPREAD = 1.5


def _at(path: dict[str, Any], rate: str) -> dict[str, Any]:
    return dict(path.get("rates", {}).get(rate, {}))


def generator_lag(names: list[str], paths: dict[str, Any], rate: str) -> str:
    """Why the generator did not hold `rate` on one of `names`, or "" when it did."""
    for name in names:
        achieved = _at(paths.get(name, {}), rate).get("achieved_rps")
        if achieved is not None and achieved < GENERATOR_MIN_SHARE * float(rate):
            return (
                f"the load generator lagged on {name}: it released {achieved:g} of the asked {rate} req/s"
                f" (< {GENERATOR_MIN_SHARE:.0%})"
            )
    return ""


def baseline_tail(ref: str, paths: dict[str, Any], added: dict[str, Any], rate: str) -> str:
    """Why the reference's own tail makes a p99 comparison meaningless, or ""."""
    latency = _at(paths.get(ref, {}), rate).get("latency_ms", {})
    p50, p99 = latency.get("p50"), latency.get("p99")
    if p50 and p99 and p99 > BASELINE_TAIL_FACTOR * p50:
        return (
            f"the baseline {ref}'s own p99 ({p99:g} ms) is {p99 / p50:.0f}x its p50 ({p50:g} ms),"
            f" over {BASELINE_TAIL_FACTOR:g}x: the machine stalled"
        )
    ref_added = added.get(ref, {}).get(rate, {}).get("p99")
    if ref_added is not None and ref_added > BASELINE_ADDED_P99_CEILING_MS:
        return (
            f"the baseline {ref} adds {ref_added:g} ms at p99 over direct, over the"
            f" {BASELINE_ADDED_P99_CEILING_MS:g} ms an Envoy pair on loopback can plausibly add"
        )
    return ""


def baseline_median(ref: str, added: dict[str, Any], rate: str) -> str:
    """Why the reference's own median is too far off to be a yardstick, or ""."""
    ref_added = added.get(ref, {}).get(rate, {}).get("p50")
    if ref_added is not None and ref_added > BASELINE_ADDED_P50_CEILING_MS:
        return (
            f"the baseline {ref} adds {ref_added:g} ms at p50 over direct, over the"
            f" {BASELINE_ADDED_P50_CEILING_MS:g} ms it adds with a core to itself: it waited for the CPU"
        )
    return ""


def max_spread(names: list[str], paths: dict[str, Any]) -> str:
    """Why wrk's rounds are too far apart to compare max rates, or ""."""
    for name in names:
        rounds = [r for r in paths.get(name, {}).get("max", {}).get("rounds_requests_per_s", []) if r]
        if len(rounds) > 1 and max(rounds) > MAX_SPREAD * statistics.median(rounds):
            return (
                f"wrk's best round on {name} ({max(rounds):g} req/s) is over {MAX_SPREAD:g}x the median"
                f" of its rounds ({statistics.median(rounds):g}; range {min(rounds):g}-{max(rounds):g}):"
                " the machine's load changed between rounds"
            )
    return ""


def unmeasurable(
    mesh: str, ref: str, paths: dict[str, Any], added: dict[str, Any], rate: str
) -> dict[str, str]:
    """Target kind (cpu, p50, max, p99) -> why no verdict can be given in this run; absent = measurable."""
    lag = generator_lag([mesh, ref, "direct"], paths, rate)
    reasons = {
        "cpu": lag,
        "p50": lag or baseline_median(ref, added, rate),
        "p99": lag or baseline_tail(ref, paths, added, rate),
        "max": max_spread([mesh, ref], paths),
    }
    return {kind: why for kind, why in reasons.items() if why}
