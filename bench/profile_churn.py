"""Profile the controller under endpoint churn (issue 12): CPU per change and where it goes, no fleet.

    .venv/bin/python -m bench.profile_churn [--pods 1000] [--rate 100] [--duration 20] [--profile DIR]

`bench_kubernetes`'s churn without the 1,000 ADS clients: the test API server (`bench.kube_world`) in
a child process drives the churn, `smimesh controller` runs in this process and computes every pod's
snapshot (all are known nodes) as it does with the fleet connected; pushing to the proxies (7 % of the
controller's CPU in a full run) is left out. Prints the controller's CPU per change, views per change
and passes as JSON; with --profile, a pyinstrument profile of the churn window into DIR. A dev tool to
compare before/after on a loaded machine (process CPU, not wall time): the verdict is bench_kubernetes'.
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

from bench.bench_kubernetes import ApiChild, synced_controller
from bench.profile_change import _save
from smimesh.runtime.kubernetes.controller import KubeController


async def churn(pods: int, rate: float, duration: float, profile: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="profile-churn-") as tmp:
        directory = Path(tmp)
        async with ApiChild(directory, pods, 0) as api, synced_controller(directory) as controller:
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
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--profile", type=Path, default=None, help="write a pyinstrument profile here")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(churn(args.pods, args.rate, args.duration, args.profile)), indent=1))


if __name__ == "__main__":
    main()
