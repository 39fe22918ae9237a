"""Data-plane A/B under the SAME noise: two (or more) paths loaded at once by one constant-rate generator.

    .venv/bin/python -m bench.ab_dataplane [--paths direct,static-envoy-mtls,smimesh] [--rate 700]
                                           [--seconds 8] [--rounds 3] [--settle 0] [--alternate]

Why it exists: `bench_dataplane` measures the paths one after another, so on a shared machine a
burst of foreign load (a ~100 ms stall) lands on whichever path happens to be running, and a p99 over
a few rounds is decided by two or three such bursts. Here every path gets the same constant rate at
the same time from one event loop, so each burst hits every path alike: a latency gap that survives
is the paths' own (a stall inside the proxies), one that vanishes was the machine. Same placement as
`bench_dataplane` (proxies on their own core, generator, backends and `smimesh up` together).

`--alternate` loads one path at a time instead, in short slices (`--seconds`, 1-2 s), the order
rotated every round: the paths no longer share the proxies' core with each other (a path that does
more work cannot slow the others down), and with many short slices a burst of foreign load still
lands on every path alike on average. Use it to price a part of the config (`static-envoy-mtls+rbac`,
`bench/dataplane/ablation.py`) against the pair.

Read round 1 apart: it is the first load after start-up (connection pools grow, TLS handshakes),
and `--settle` waits before it; the summary leaves it out. A diagnostic: it prints one line per
round (percentiles per path, in ms) and a summary (p50 added over `direct` when it runs, its ratio to
the first proxied path, the median of the per-round ratios, CPU seconds per 1,000 requests of each
path's proxies), writes no results and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_dataplane import cpu_now, open_paths
from bench.dataplane import loadgen, procs
from bench.dataplane.paths import Target


@dataclass
class PathTotals:
    """One path's requests and proxy CPU over the rounds after the first."""

    tally: loadgen.Tally = field(default_factory=loadgen.Tally)
    p50s_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0


def _load(target: Target, rate: float, seconds: float) -> asyncio.Task[loadgen.Tally]:
    run = loadgen.constant_rate(target.host, target.port, target.host_header, rate, seconds)
    return asyncio.create_task(run)


async def _all_at_once(targets: dict[str, Target], rate: float, seconds: float) -> dict[str, loadgen.Tally]:
    tasks = {name: _load(target, rate, seconds) for name, target in targets.items()}
    return {name: await task for name, task in tasks.items()}


async def _one_after_another(
    targets: dict[str, Target], rate: float, seconds: float, index: int, cpu_s: dict[str, float]
) -> dict[str, loadgen.Tally]:
    """Each path alone in turn (order rotated by `index`); its proxies' CPU over its slice into `cpu_s`."""
    names = list(targets)
    tallies = {}
    for name in names[index % len(names) :] + names[: index % len(names)]:
        before = sum(cpu_now(targets[name]).values())
        tallies[name] = await _load(targets[name], rate, seconds)
        cpu_s[name] = sum(cpu_now(targets[name]).values()) - before
    return {name: tallies[name] for name in names}


def _round(
    targets: dict[str, Target], args: argparse.Namespace, index: int
) -> tuple[dict[str, loadgen.Tally], dict[str, float]]:
    """One round: the tallies and each path's proxy CPU seconds (over its slice with --alternate)."""
    cpu_s: dict[str, float] = {}
    if args.alternate:
        return asyncio.run(_one_after_another(targets, args.rate, args.seconds, index, cpu_s)), cpu_s
    before = {name: sum(cpu_now(t).values()) for name, t in targets.items()}
    tallies = asyncio.run(_all_at_once(targets, args.rate, args.seconds))
    return tallies, {name: sum(cpu_now(t).values()) - before[name] for name, t in targets.items()}


def _line(index: int, tallies: dict[str, loadgen.Tally]) -> str:
    parts = []
    for name, tally in tallies.items():
        ms = loadgen.summary_ms(tally.latencies_s)
        shown = " ".join(f"{k} {ms[k]:.2f}" for k in ("p50", "p90", "p99", "p99.9"))
        parts.append(f"{name}: {shown} (n {len(tally.latencies_s)}, errors {tally.errors})")
    return f"round {index + 1}: " + " | ".join(parts)


def summary(totals: dict[str, PathTotals]) -> list[str]:
    """p50 (pooled), added over direct, ratio to the first proxied path, median per-round ratio, CPU."""
    direct = totals.get("direct")
    base = [0.0] * len(next(iter(totals.values())).p50s_ms) if direct is None else direct.p50s_ms
    added = {
        n: [p - b for p, b in zip(t.p50s_ms, base, strict=True)] for n, t in totals.items() if n != "direct"
    }
    pooled = {n: loadgen.summary_ms(t.tally.latencies_s)["p50"] for n, t in totals.items()}
    base_pooled = pooled.get("direct", 0.0)
    reference = next(iter(added), None)
    lines = []
    for name, total in totals.items():
        line = f"{name}: p50 {pooled[name]:.3f} ms"
        if name in added and reference is not None:
            ratios = [a / r for a, r in zip(added[name], added[reference], strict=True) if r > 0]
            pooled_ratio = (pooled[name] - base_pooled) / max(pooled[reference] - base_pooled, 1e-9)
            line += f", added {pooled[name] - base_pooled:.3f} ms = {pooled_ratio:.3f}x {reference}"
            line += f" (median of rounds {statistics.median(ratios):.3f}x)" if ratios else ""
        if total.tally.latencies_s and total.cpu_s:
            line += f", proxies' CPU {1000 * total.cpu_s / len(total.tally.latencies_s):.4f} s/1k req"
        lines.append(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_dataplane", description=__doc__.splitlines()[0])
    parser.add_argument("--paths", default="static-envoy-mtls,smimesh", help="comma-separated path names")
    parser.add_argument("--rate", type=float, default=700.0, help="req/s per path")
    parser.add_argument("--seconds", type=float, default=8.0, help="per round (per path with --alternate)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait after the paths are up")
    parser.add_argument(
        "--alternate", action="store_true", help="one path at a time, order rotated per round"
    )
    args = parser.parse_args()
    where = procs.placement()
    os.sched_setaffinity(0, where.load)  # this process is the generator
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="smimesh-ab-dp-") as work, ExitStack() as stack:
        targets, skipped = open_paths(stack, [n for n in args.paths.split(",") if n], where, Path(work))
        for name, reason in skipped.items():
            print(f"{name}: skipped ({reason})")
        time.sleep(args.settle)
        totals = {name: PathTotals() for name in targets}
        for index in range(args.rounds):
            tallies, cpu_s = _round(targets, args, index)
            print(_line(index, tallies), flush=True)
            if index == 0 and args.rounds > 1:
                continue
            for name, tally in tallies.items():
                totals[name].tally.merge(tally)
                totals[name].p50s_ms.append(loadgen.summary_ms(tally.latencies_s)["p50"])
                totals[name].cpu_s += cpu_s[name]
        print(f"load average at end: {os.getloadavg()}")
        print("\n".join(summary(totals)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
