"""Profile the control plane's change path on the shipped (secured) pipeline: where one change's CPU goes.

    .venv/bin/python -m bench.profile_change [--services 10000] [--proxies 1000] [--profile DIR] [--tag T]
    .venv/bin/python -m bench.profile_change --live sotw|delta [--proxies 1000] [--profile DIR] [--tag T]

Default: the scale benchmark's world, pipeline and changes (`bench_scale.Mesh`, `bench_scale.change`:
(a) a Service nobody may call, (b) one endpoint, (c) one TrafficTarget source, (d) a split weight),
each applied once after the first build; prints each change's figures as JSON and, with --profile,
writes a pyinstrument text + HTML profile of each change into DIR (`<tag>scale-<change>.txt`).
--live: the propagation benchmark's split change with its real server and fleet (1,000 clients),
the change phase profiled. A dev tool (pyinstrument is a dev dependency, not the project's); the
profiles under bench/results/profiles/ before issue 10 were made of the plain path by its earlier
version (see the README there).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from bench import bench_scale

T = TypeVar("T")


async def _profiled(name: str, directory: Path | None, work: Awaitable[T]) -> T:
    """Await `work`; with a directory, under pyinstrument (every sample of this thread, awaits included)."""
    if directory is None:
        return await work
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    with profiler:
        result = await work
    _save(profiler, directory, name)
    return result


def _save(profiler: Any, directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.txt").write_text(profiler.output_text(unicode=True))
    (directory / f"{name}.html").write_text(profiler.output_html())


async def scale_changes(services: int, proxies: int, directory: Path | None, tag: str) -> dict[str, Any]:
    """Each of the scale benchmark's changes once after the first build, profiled."""
    with tempfile.TemporaryDirectory(prefix="smimesh-profile-") as run_dir:
        mesh = bench_scale.Mesh(services, proxies, "sparse", Path(run_dir))
        first = await mesh.first_build()
        gc.collect()  # as `smimesh up` does once started
        gc.freeze()
        out: dict[str, Any] = {"services": services, "proxies": proxies, "first_build_s": first["cpu_s"]}
        for kind in bench_scale.CHANGES:
            out[kind] = await _profiled(f"{tag}scale-{kind}", directory, bench_scale.change(mesh, kind, 0))
    return out


async def live_propagation(proxies: int, mode: str, directory: Path | None, tag: str) -> dict[str, Any]:
    """The propagation benchmark's change with its real server and fleet, the change phase profiled."""
    from bench.bench_propagation import ControlPlane, Fleet, fleet_yaml
    from smimesh.testing.bookstore import load_world

    services = 50
    plane = ControlPlane(services, proxies, "secured")
    await plane.start()
    try:
        async with Fleet(plane.server.address, plane.node_ids, mode):
            await plane.all_synced(within=300)
            plane.converged.clear()
            changed = load_world(fleet_yaml(services, proxies, weights=(80, 20)))

            async def change() -> float:
                at = plane.store.replace(changed)
                while len(plane.converged) < proxies:
                    if time.monotonic() - at > 120:
                        raise TimeoutError(f"only {len(plane.converged)}/{proxies} proxies converged")
                    await asyncio.sleep(0.005)
                return time.monotonic() - at

            all_acked_s = await _profiled(f"{tag}propagation-{mode}", directory, change())
            return {"all_acked_s": all_acked_s, "rebuild_s": plane.pipeline.stats.last_build_s}
    finally:
        await plane.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--proxies", type=int, default=1_000)
    parser.add_argument("--profile", type=Path, default=None, help="write the profiles into this directory")
    parser.add_argument("--tag", default="", help="prefix of the profile file names (before/after)")
    parser.add_argument("--live", choices=["sotw", "delta"], help="the propagation change, server and fleet")
    args = parser.parse_args()
    if args.live:
        found = asyncio.run(live_propagation(args.proxies, args.live, args.profile, args.tag))
    else:
        found = asyncio.run(scale_changes(args.services, args.proxies, args.profile, args.tag))
    print(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
