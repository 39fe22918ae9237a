"""Profile the controller under endpoint churn (issue 12): CPU per change and where it goes.

    .venv/bin/python -m bench.profile_churn [--pods 1000] [--proxies 0] [--rate 100] [--duration 20]
        [--profile DIR]

`bench_kubernetes`'s churn, by default without the 1,000 ADS clients (`--proxies N` connects N, in a
child process): the test API server (`bench.kube_world`) in a child process drives the churn,
`smimesh controller` runs in this process and computes every pod's snapshot (all are known nodes) as
it does with the fleet connected; without the fleet, pushing to the proxies is left out. Prints the
controller's CPU per change, views per change and passes as JSON; with --profile, a pyinstrument
profile of the churn window into DIR. A dev tool to compare before/after on a loaded machine (process
CPU, not wall time): the verdict is bench_kubernetes'.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_kubernetes import ApiChild, all_synced, synced_controller
from bench.bench_propagation import Fleet
from bench.kube_world import node_id
from bench.profile_change import _save
from smimesh.runtime.kubernetes.controller import KubeController


async def churn(
    pods: int, proxies: int, rate: float, duration: float, profile: Path | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="profile-churn-") as tmp:
        directory = Path(tmp)
        async with ApiChild(directory, pods, proxies) as api, synced_controller(directory) as controller:
            if not proxies:
                return await _measured(api, controller, rate, duration, profile)
            nodes = [node_id(i) for i in range(proxies)]
            tokens = directory / "tokens.json"
            async with Fleet(f"127.0.0.1:{controller.xds_port}", nodes, "sotw", tokens=tokens):
                await all_synced(controller, nodes, 600)
                return await _measured(api, controller, rate, duration, profile)


async def _measured(
    api: ApiChild, controller: KubeController, rate: float, duration: float, profile: Path | None
) -> dict[str, Any]:
    while len(controller.pipeline.published_instances) < api.pods:  # noqa: ASYNC110 (the first full pass)
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)
    before = dataclasses.asdict(controller.pipeline.stats)
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    cpu0 = time.process_time()
    driven = await api.churn(rate, duration)
    await asyncio.sleep(0.5)  # the last changes' pass
    cpu = time.process_time() - cpu0
    if profiler is not None and profile is not None:
        profiler.stop()
        _save(profiler, profile, "churn")
    after = dataclasses.asdict(controller.pipeline.stats)
    stats = {k: v - before[k] for k, v in after.items() if isinstance(v, int)}
    sent = max(1, driven["sent"])
    return {
        "changes": sent,
        "driver_took_s": round(driven["took_s"], 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_change": round(cpu / sent * 1000, 2),
        "views_recomputed_per_change": round(stats["proxies_recomputed"] / sent, 2),
        "passes": stats["builds"],
        "pipeline": stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--proxies", type=int, default=0, help="connect this many ADS clients (the fleet)")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--profile", type=Path, default=None, help="write a pyinstrument profile here")
    args = parser.parse_args()
    found = asyncio.run(churn(args.pods, args.proxies, args.rate, args.duration, args.profile))
    print(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
