"""Memory per connected proxy: what the control plane holds for each sidecar it serves.

The same synthetic mesh as the propagation benchmark (50 services, dense access policy, so each
sidecar's config has ~100 resources: clusters, endpoint sets, listeners, a route configuration
with a virtual host per service) goes through the pipeline `smimesh up` runs (secured: mTLS, RBAC,
SDS secrets; `bench.pipelines.secured_pipeline`) into the cache, then P Envoy-like
clients (in a child process, so their memory is not counted) connect and ACK everything. The
control plane's RSS and its Python heap (tracemalloc) are measured at three points: before
anything is built, with P snapshots built, with P streams connected and in sync.
Target: <= 100 KB per connected proxy (issue 10; OSM and Kuma ~1 MB, istiod 1.3-2 MB). Memory is
not inflated by a busy machine, so every full run is judged.

    .venv/bin/python -m bench.bench_proxy_memory [--quick] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from bench import envelope
from bench.bench_propagation import ControlPlane, Fleet

KB = 1024
TARGET_KB = 100


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KB
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure() -> dict[str, int]:
    gc.collect()
    if tracemalloc.is_tracing():
        return {"traced": tracemalloc.get_traced_memory()[0]}
    return {"rss": rss_bytes()}


def config_size(plane: ControlPlane) -> dict[str, float]:
    """How big one sidecar's config is (so "realistic" has a number), and how much is shared."""
    resources = bytes_total = 0
    distinct: dict[str, int] = {}
    for node_id in plane.node_ids:
        snapshot = plane.cache.get_snapshot(node_id)
        assert snapshot is not None
        for type_url in snapshot.resources:
            for entry in snapshot.entries(type_url).values():
                resources += 1
                bytes_total += len(entry.resource.value)
                distinct[entry.digest] = len(entry.resource.value)
    count = len(plane.node_ids)
    return {
        "resources_per_proxy": resources / count,
        "serialized_kb_per_proxy": bytes_total / count / KB,
        "distinct_serialized_kb_total": sum(distinct.values()) / KB,
    }


def per_proxy_kb(after: dict[str, int], before: dict[str, int], count: int) -> dict[str, float]:
    return {key: (after[key] - before[key]) / count / KB for key in after}


async def run(services: int, proxies: int, mode: str) -> dict[str, Any]:
    baseline = measure()
    plane = ControlPlane(services, proxies, "secured")
    await plane.start()
    try:
        built = measure()
        async with Fleet(plane.server.address, plane.node_ids, mode):
            await plane.all_synced(within=600)
            connected = measure()
            return {
                "mode": mode,
                "services": services,
                "proxies": proxies,
                "config": config_size(plane),
                "per_proxy_kb": {
                    "snapshots": per_proxy_kb(built, baseline, proxies),
                    "streams": per_proxy_kb(connected, built, proxies),
                    "total": per_proxy_kb(connected, baseline, proxies),
                },
                "absolute_mb": {
                    phase: {key: value / KB / KB for key, value in figures.items()}
                    for phase, figures in (("baseline", baseline), ("built", built), ("connected", connected))
                },
            }
    finally:
        await plane.stop()


def one_mode(services: int, proxies: int, mode: str, trace: bool) -> None:
    """Measure one mode in this (fresh) process and print the result as JSON."""
    if trace:
        tracemalloc.start()
    measured = asyncio.run(run(services, proxies, mode))
    measured["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KB
    print(json.dumps(measured))


def in_fresh_process(quick: bool, mode: str, trace: bool) -> dict[str, Any]:
    """Each measurement in its own process: caches of a previous run must not make the next look cheap,
    and RSS is measured without tracemalloc, whose own bookkeeping would inflate it."""
    argv = [sys.executable, "-m", "bench.bench_proxy_memory", "--mode", mode]
    argv += (["--quick"] if quick else []) + (["--trace"] if trace else [])
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def merged(rss_run: dict[str, Any], traced_run: dict[str, Any]) -> dict[str, Any]:
    """One mode's figures: RSS from the untraced run, the Python heap from the traced one."""
    for phase, figures in traced_run["per_proxy_kb"].items():
        rss_run["per_proxy_kb"][phase].update(figures)
    for phase, figures in traced_run["absolute_mb"].items():
        rss_run["absolute_mb"][phase].update(figures)
    return rss_run


def envelope_targets(runs: list[dict[str, Any]], proxies: int, quick: bool) -> list[dict[str, Any]]:
    """RSS per connected proxy, per mode; about 1,000 proxies, so a quick run (50) is not judged."""
    return [
        envelope.target(
            f"{run['mode']}: RSS per connected proxy, {proxies} proxies (KB)",
            f"<= {TARGET_KB} KB at 1,000 proxies",
            run["per_proxy_kb"]["total"]["rss"],
            None if quick else run["per_proxy_kb"]["total"]["rss"] <= TARGET_KB,
        )
        for run in runs
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 proxies instead of 1,000")
    parser.add_argument(
        "--mode", choices=["sotw", "delta"], help="(internal) measure one mode in this process"
    )
    parser.add_argument(
        "--trace", action="store_true", help="(internal) with --mode: the Python heap, not RSS"
    )
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    services, proxies = (10, 50) if args.quick else (50, 1000)
    if args.mode:
        one_mode(services, proxies, args.mode, args.trace)
        return
    started = envelope.Run("proxy_memory", args.quick)
    runs = [
        merged(in_fresh_process(args.quick, mode, False), in_fresh_process(args.quick, mode, True))
        for mode in ("sotw", "delta")
    ]
    result = {
        "target_kb_per_proxy": TARGET_KB,
        "pipeline": "secured (smimesh up's: mTLS, RBAC, SDS secrets)",
        "note": "RSS (untraced run) includes grpc's C buffers; the Python heap is from a traced run",
        "runs": runs,
    }
    out = envelope.write(started, args.results_dir, result, envelope_targets(runs, proxies, args.quick))
    for item in runs:
        total, config = item["per_proxy_kb"]["total"], item["config"]
        print(
            f"{item['mode']:5} {proxies} proxies: {total['rss']:.1f} KB RSS, {total['traced']:.1f} KB heap "
            f"per connected proxy (config: {config['resources_per_proxy']:.0f} resources, "
            f"{config['serialized_kb_per_proxy']:.1f} KB serialized)"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
