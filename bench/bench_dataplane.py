"""B1, data plane: latency, CPU and memory of six paths to the same backend, side by side in one run.

    .venv/bin/python -m bench.bench_dataplane [--quick] [--results-dir DIR] [--paths a,b]

Paths: (a) `direct`; (b) `static-envoy-mtls`, a hand-written minimal static Envoy pair with mTLS
(and `static-envoy-plain`, the same pair without TLS: the fair reference for a mesh path that runs
without mTLS, and the price of mTLS beside (b)); (c) `smimesh`, two sidecars configured by
`smimesh up` (mTLS, RBAC, stats as generated); (d) `smimesh-split`, the same with a TrafficSplit in
the way, held against `static-envoy-mtls-split`, the static pair with the same 50/50 weighted
split over two server Envoys. All paths run at once, and the loads are interleaved path by path in
rounds, so a noisy neighbour hits every path alike. Per path: constant rates (200 and 1,000 req/s,
latency without coordinated omission), then the max rate with wrk; CPU seconds per 1,000 requests
per sidecar from /proc/<pid>/stat, sidecar RSS. A path that cannot run is recorded as `skipped`
with the reason, never invented. What each path really had (mTLS, RBAC, split) is read
from the running proxies. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench import envelope
from bench.dataplane import ablation, analysis, loadgen, procs
from bench.dataplane.mesh_path import mesh_path
from bench.dataplane.paths import Target, direct, static_pair, static_split

PathFactory = Callable[[procs.Placement, Path], AbstractContextManager[Target]]
PATHS: dict[str, PathFactory] = {
    "direct": direct,
    "static-envoy-mtls": static_pair,
    "static-envoy-plain": partial(static_pair, tls=False),
    "static-envoy-mtls-split": static_split,
    "smimesh": partial(mesh_path, split=False),
    "smimesh-split": partial(mesh_path, split=True),
}


@dataclass(frozen=True)
class Plan:
    rates: tuple[int, ...]
    duration_s: float
    warmup_s: float
    rounds: int
    max_duration_s: float
    connections: int = 32
    max_connections: int = 16


QUICK = Plan(rates=(200, 1000), duration_s=1.0, warmup_s=0.3, rounds=1, max_duration_s=1.0)
# Many short slices, not a few long ones (issue 10): with 3 rounds of 8 s, one burst of foreign load
# lasting seconds decided a path's p50 (a run read 2.2x for smimesh while an A/B of 1.5 s slices on the
# same loaded machine read 0.86-0.98x); with 12 rounds of 2 s each burst is spread over every path.
FULL = Plan(rates=(200, 1000), duration_s=2.0, warmup_s=2.0, rounds=12, max_duration_s=2.0)


@dataclass
class Measured:
    """What one (path, rate) accumulated over the rounds."""

    tally: loadgen.Tally = field(default_factory=loadgen.Tally)
    cpu_s: dict[str, float] = field(default_factory=dict)
    requests: int = 0

    def add_cpu(self, before: dict[str, float], after: dict[str, float], requests: int) -> None:
        for role in after:
            self.cpu_s[role] = self.cpu_s.get(role, 0.0) + after[role] - before.get(role, after[role])
        self.requests += requests

    def cpu_per_1000(self) -> dict[str, float]:
        """Per sidecar role; servers of a split are summed (together they carry every request once)."""
        if not self.requests or not self.cpu_s:
            return {}
        per = {role: 1000 * seconds / self.requests for role, seconds in self.cpu_s.items()}
        grouped = {
            "client": per.get("client", 0.0),
            "server": sum(v for k, v in per.items() if k != "client"),
        }
        return {k: round(v, 5) for k, v in (grouped | {"total": sum(grouped.values())}).items()}


def cpu_now(target: Target) -> dict[str, float]:
    return {role: procs.cpu_seconds(pid) for role, pid in target.proxies.items()}


def run_rate(target: Target, rate: float, seconds: float, plan: Plan, into: Measured) -> None:
    before = cpu_now(target)
    tally = asyncio.run(
        loadgen.constant_rate(target.host, target.port, target.host_header, rate, seconds, plan.connections)
    )
    into.add_cpu(before, cpu_now(target), len(tally.latencies_s))
    into.tally.merge(tally)


def run_max(target: Target, plan: Plan, where: procs.Placement, into: Measured) -> dict[str, Any]:
    before = cpu_now(target)
    url = f"http://{target.host}:{target.port}/"
    result = loadgen.wrk_max(url, target.host_header, plan.max_duration_s, plan.max_connections, where.load)
    into.add_cpu(before, cpu_now(target), int(result.get("requests", 0)))
    return result


def path_factory(name: str) -> PathFactory:
    """A path by name; `static-envoy-mtls+<parts>` is the static pair with parts of smimesh's config."""
    if name.startswith(ablation.PREFIX):
        return partial(ablation.ablated_pair, name)
    return PATHS[name]


def open_paths(
    stack: ExitStack, names: list[str], where: procs.Placement, work: Path
) -> tuple[dict[str, Target], dict[str, str]]:
    targets, skipped = {}, {}
    for name in names:
        try:
            targets[name] = stack.enter_context(path_factory(name)(where, work))
        except Exception as error:  # any path that cannot start is recorded, the others still run
            skipped[name] = f"{type(error).__name__}: {error}"
            print(f"  {name}: skipped ({skipped[name][:300]})", flush=True)
    return targets, skipped


class Session:
    """The measurements of one run over every open path, round by round.

    A path that breaks mid-run (a proxy died, a port refused) is dropped from the later rounds and
    reported as failed with the reason; the other paths carry on.
    """

    def __init__(self, targets: dict[str, Target], plan: Plan, where: procs.Placement) -> None:
        self.targets, self.plan, self.where = targets, plan, where
        self.at_rate = {(n, r): Measured() for n in targets for r in plan.rates}
        self.at_max = {n: Measured() for n in targets}
        self.wrk_runs: dict[str, list[dict[str, Any]]] = {n: [] for n in targets}
        self.failed: dict[str, str] = {}

    def attempt(self, name: str, step: Callable[[], object]) -> None:
        if name in self.failed:
            return
        try:
            step()
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            self.failed[name] = f"failed during measurement: {type(error).__name__}: {error}"

    def warm(self) -> None:
        for name, target in self.targets.items():
            self.attempt(name, partial(run_rate, target, 200, self.plan.warmup_s, self.plan, Measured()))

    def one_round(self, index: int) -> None:
        """Every rate on every path in turn (order rotated per round), then max on every path."""
        order = list(self.targets)
        rotated = order[index % len(order) :] + order[: index % len(order)]
        for rate in self.plan.rates:
            for name in rotated:
                into = self.at_rate[(name, rate)]
                target = self.targets[name]
                self.attempt(name, partial(run_rate, target, rate, self.plan.duration_s, self.plan, into))
        for name in rotated:
            self.attempt(name, partial(self._max, name))

    def _max(self, name: str) -> None:
        self.wrk_runs[name].append(run_max(self.targets[name], self.plan, self.where, self.at_max[name]))

    def results(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"skipped": self.failed[name]}
            if name in self.failed
            else path_result(target, self.plan, self.at_rate, self.at_max[name], self.wrk_runs[name])
            for name, target in self.targets.items()
        }


def measure(targets: dict[str, Target], plan: Plan, where: procs.Placement) -> dict[str, dict[str, Any]]:
    """Warm every path, then the rounds."""
    session = Session(targets, plan, where)
    session.warm()
    for index in range(plan.rounds):
        session.one_round(index)
        print(f"  round {index + 1}/{plan.rounds} done", flush=True)
    return session.results()


def path_result(
    target: Target,
    plan: Plan,
    at_rate: dict[tuple[str, int], Measured],
    at_max: Measured,
    wrk_runs: list[dict[str, Any]],
) -> dict[str, Any]:
    rates = {}
    for rate in plan.rates:
        measured = at_rate[(target.name, rate)]
        rates[str(rate)] = loadgen.rate_result(rate, plan.duration_s * plan.rounds, measured.tally) | {
            "cpu_s_per_1000": measured.cpu_per_1000()
        }
    ok_runs = [run for run in wrk_runs if run.get("requests")]
    nothing = wrk_runs[0] if wrk_runs else {"skipped": "no max-rate run"}
    best = max(ok_runs, key=lambda run: run["requests_per_s"], default=nothing)
    return {
        "had": target.had,
        "proxies": sorted(target.proxies),
        "rates": rates,
        "max": best
        | {
            "rounds_requests_per_s": [run.get("requests_per_s") for run in wrk_runs],
            "cpu_s_per_1000": at_max.cpu_per_1000(),
        },
        "rss_mb": {role: round(procs.rss_bytes(pid) / 2**20, 1) for role, pid in target.proxies.items()},
    }


def run(plan: Plan, names: list[str]) -> dict[str, Any]:
    where = procs.placement()
    os.sched_setaffinity(0, where.load)  # this process is the constant-rate load generator
    with tempfile.TemporaryDirectory(prefix="smimesh-bench-dp-") as work, ExitStack() as stack:
        targets, skipped = open_paths(stack, names, where, Path(work))
        print(f"  measuring {', '.join(targets)}", flush=True)
        paths: dict[str, Any] = measure(targets, plan, where)
    paths |= {name: {"skipped": reason} for name, reason in skipped.items()}
    return {
        "placement": where.describe(),
        "plan": plan.__dict__ | {"rates": list(plan.rates)},
        "load_generator": "constant rate: smimesh bench asyncio generator (latency from scheduled release,"
        " no coordinated omission); max: wrk 4.1.0 closed loop",
        "backend": "asyncio Protocol with a pre-built 1 KB response, HTTP/1.1 keep-alive",
        "paths": {name: paths[name] for name in names if name in paths},
    } | analysis.compare(paths)


def envelope_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The analysis's targets as the envelope states them (its reference, caveat and notes ride along)."""
    return [
        envelope.target(
            t["what"],
            t["target"],
            t["value"],
            t["met"],
            **{k: v for k, v in t.items() if k not in ("what", "target", "value", "met")},
        )
        for t in result["targets"]
    ]


def _known(name: str) -> bool:
    """A path of PATHS, or the static pair with named parts of smimesh's config (`ablation`)."""
    if not name.startswith(ablation.PREFIX):
        return name in PATHS
    try:
        ablation.parts_of(name)
    except KeyError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_dataplane", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds per path (smoke run)")
    envelope.add_results_dir(parser)
    parser.add_argument(
        "--paths",
        default=",".join(PATHS),
        help=f"comma-separated subset of {', '.join(PATHS)}, or {ablation.PREFIX}<parts> (ablation.py)",
    )
    args = parser.parse_args()
    names = [n for n in args.paths.split(",") if n]
    unknown = [n for n in names if not _known(n)]
    if unknown:
        parser.error(
            f"unknown path(s) {', '.join(unknown)}; expected some of {', '.join(PATHS)}"
            f" or {ablation.PREFIX}<part>[+<part>...] (bench/dataplane/ablation.py)"
        )
    started = envelope.Run("dataplane", args.quick)  # describes the machine before run() pins this process
    result = run(QUICK if args.quick else FULL, names)
    out = envelope.write(started, args.results_dir, result, envelope_targets(result))
    print(f"  wrote {out}; targets met: {result['meets_target']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
