"""Data-plane A/B under the SAME noise: two (or more) paths loaded at once by one constant-rate generator.

    .venv/bin/python -m bench.ab_dataplane [--paths static-envoy-mtls,smimesh] [--rate 700]
                                           [--seconds 8] [--rounds 3] [--settle 0]

Why it exists: `bench_dataplane` measures the paths one after another, so on a shared machine a
burst of foreign load (a ~100 ms stall) lands on whichever path happens to be running, and a p99 over
a few rounds is decided by two or three such bursts. Here every path gets the same constant rate at
the same time from one event loop, so each burst hits every path alike: a latency gap that survives
is the paths' own (a stall inside the proxies), one that vanishes was the machine. Same placement as
`bench_dataplane` (proxies on their own core, generator, backends and `smimesh up` together).

Read round 1 apart: it is the first load after start-up (connection pools grow, TLS handshakes),
and `--settle` waits before it. A diagnostic: it prints one line per round (percentiles per path,
in ms), writes no results and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.bench_dataplane import open_paths
from bench.dataplane import loadgen, procs
from bench.dataplane.paths import Target


async def _all_at_once(targets: dict[str, Target], rate: float, seconds: float) -> dict[str, loadgen.Tally]:
    def load(target: Target) -> asyncio.Task[loadgen.Tally]:
        run = loadgen.constant_rate(target.host, target.port, target.host_header, rate, seconds)
        return asyncio.create_task(run)

    tasks = {name: load(target) for name, target in targets.items()}
    return {name: await task for name, task in tasks.items()}


def _line(index: int, tallies: dict[str, loadgen.Tally]) -> str:
    parts = []
    for name, tally in tallies.items():
        ms = loadgen.summary_ms(tally.latencies_s)
        shown = " ".join(f"{k} {ms[k]:.2f}" for k in ("p50", "p90", "p99", "p99.9"))
        parts.append(f"{name}: {shown} (n {len(tally.latencies_s)}, errors {tally.errors})")
    return f"round {index + 1}: " + " | ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_dataplane", description=__doc__.splitlines()[0])
    parser.add_argument("--paths", default="static-envoy-mtls,smimesh", help="comma-separated path names")
    parser.add_argument("--rate", type=float, default=700.0, help="req/s per path (all paths at once)")
    parser.add_argument("--seconds", type=float, default=8.0, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait after the paths are up")
    args = parser.parse_args()
    where = procs.placement()
    os.sched_setaffinity(0, where.load)  # this process is the generator
    with tempfile.TemporaryDirectory(prefix="smimesh-ab-dp-") as work, ExitStack() as stack:
        targets, skipped = open_paths(stack, [n for n in args.paths.split(",") if n], where, Path(work))
        for name, reason in skipped.items():
            print(f"{name}: skipped ({reason})")
        time.sleep(args.settle)
        for index in range(args.rounds):
            print(_line(index, asyncio.run(_all_at_once(targets, args.rate, args.seconds))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
