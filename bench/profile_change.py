"""Profile the control plane's change path: what one change costs after the initial build.

    .venv/bin/python -m bench.profile_change [--services 10000] [--proxies 1000] [--repeat 5]
        [--profile DIR]     # also write pyinstrument text + HTML profiles of each case into DIR

Builds the scale benchmark's synthetic world (sparse policy) once, then applies each change case the
way the pipeline does (`bench_scale._change`: rebuild the model, compute and compare views,
regenerate the changed ones), `--repeat` times per case, and prints the median CPU seconds of each
phase as JSON. The cases: a new unrelated Service, one new replica of a workload, and the same world
with every resource a fresh (equal) object, as the propagation benchmark's store hands it over.
A dev tool for bench/results/profiles/ (pyinstrument is a dev dependency, not the project's).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from bench import bench_scale


def _cases(resources: list[Any], instances: list[Any]) -> dict[str, tuple[list[Any], list[Any]]]:
    from smimesh.mesh import InboundPort, Instance
    from smimesh.resources.core import Service

    replica = Instance(
        namespace=bench_scale._ns(0), workload="w0", name="w0-extra", service_account="sa0",
        labels={"app": "w0"}, admin_port=1, outbound_http_port=2,
        inbound=(InboundPort("http", 8080, 3, 4),),
    )  # fmt: skip
    unrelated = Service.model_validate(
        {"metadata": {"name": "lonely", "namespace": "elsewhere"},
         "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]}}
    )  # fmt: skip
    return {"unrelated_service": ([unrelated], []), "new_replica": ([], [replica])}


def _change_incremental(
    resources: list[Any],
    instances: list[Any],
    base: Any,
    before: dict[str, Any],
    extra: list[Any],
    extra_inst: list[Any],
) -> dict[str, Any]:
    """The pipeline's path since mesh.impact: rebuild the model, ask which nodes the change can
    affect, compute and compare only their views, regenerate the changed ones."""
    from smimesh.mesh import build_model, proxy_view
    from smimesh.mesh.impact import affected_nodes
    from smimesh.xds import generate

    start = time.process_time()
    model = build_model(resources + extra, instances + extra_inst)
    model_s = time.process_time() - start
    affected = affected_nodes(base, model)
    nodes = list(model.instances) if affected is None else sorted(affected)
    views = {node: proxy_view(model, node) for node in nodes}
    changed = [n for n, v in views.items() if before.get(n) != v]
    views_s = time.process_time() - start - model_s
    for node in changed:
        generate(views[node])
    total = time.process_time() - start
    return {
        "cpu_s": round(total, 4), "model_s": round(model_s, 4), "views_and_diff_s": round(views_s, 4),
        "generate_changed_s": round(total - model_s - views_s, 4), "changed_views": len(changed),
        "views_computed": len(views), "proxies": len(model.instances),
    }  # fmt: skip


def _one_case(
    world: dict[str, Any], extra: list[Any], extra_inst: list[Any], repeat: int, incremental: bool = False
) -> dict[str, Any]:
    args = (world["resources"], world["instances"], world["views"], extra, extra_inst)
    if incremental:
        args = (world["resources"], world["instances"], world["model"], world["views"], extra, extra_inst)
    change = _change_incremental if incremental else bench_scale._change
    runs = [change(*args) for _ in range(repeat)]
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    medians = {k: round(statistics.median(r[k] for r in runs), 4) for k in keys}
    counts = {k: runs[0][k] for k in ("changed_views", "views_computed", "proxies") if k in runs[0]}
    return {**medians, **counts, "runs_cpu_s": [r["cpu_s"] for r in runs]}


def _profiled(name: str, directory: Path | None, action: Any) -> Any:
    if directory is None:
        return action()
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    with profiler:
        result = action()
    _save(profiler, directory, name)
    return result


def _save(profiler: Any, directory: Path, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.txt").write_text(profiler.output_text(unicode=True))
    (directory / f"{name}.html").write_text(profiler.output_html())


async def _live_propagation(proxies: int, mode: str, directory: Path | None, tag: str) -> dict[str, Any]:
    """The propagation benchmark's change with its real server and fleet, the change phase profiled."""
    import asyncio

    from bench.bench_propagation import ControlPlane, Fleet, fleet_yaml
    from smimesh.testing.bookstore import load_world

    services = 50
    plane = ControlPlane(services, proxies)
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

            if directory is None:
                return {"all_acked_s": await change()}
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            with profiler:
                all_acked_s = await change()
            _save(profiler, directory, f"{tag}propagation-{mode}")
            return {"all_acked_s": all_acked_s, "rebuild_s": plane.pipeline.stats.last_build_s}
    finally:
        await plane.stop()


class _ListStore:
    def __init__(self, resources: list[Any]) -> None:
        self.resources = resources

    def snapshot(self) -> list[Any]:
        return self.resources

    async def subscribe(self) -> Any:  # rebuild() is called directly here
        yield None


def _stats_delta(pipeline: Any, action: Any) -> tuple[float, dict[str, int]]:
    names = ("proxies_recomputed", "proxies_unchanged", "proxies_skipped")
    before = {n: getattr(pipeline.stats, n, 0) for n in names}
    start = time.process_time()
    action()
    spent = time.process_time() - start
    return spent, {n: getattr(pipeline.stats, n, 0) - before[n] for n in names}


def pipeline_changes(services: int, proxies: int, repeat: int, directory: Path | None, tag: str) -> Any:
    """Each change case through the real `Pipeline.rebuild` (model, views, generation, snapshots,
    cache), as the running control plane pays it: median CPU seconds of applying the change (each
    application is followed by an unmeasured revert)."""
    from smimesh.mesh import build_model
    from smimesh.mesh.instances import counter, instances_from_workloads
    from smimesh.runtime.pipeline import Pipeline
    from smimesh.server.cache import SnapshotCache
    from smimesh.settings import Settings

    resources = bench_scale.synthetic_world(services, proxies, "sparse")
    workloads = [
        (bench_scale._ns(i), f"w{i}", f"sa{i}", {"app": f"w{i}"}, 1, [("http", 8080)]) for i in range(proxies)
    ]
    instances = instances_from_workloads(workloads, counter(10_000))
    store = _ListStore(resources)
    pipeline = Pipeline(store, SnapshotCache(), settings=Settings(), build_model=build_model)
    pipeline.set_instances(instances)
    pipeline.rebuild(0.0)
    if os.environ.get("PROFILE_GC_FREEZE"):  # experiment: the initial world out of the collector's scans
        gc.freeze()
    out: dict[str, Any] = {"services": services, "proxies": proxies, "repeat": repeat}
    for name, (extra, extra_inst) in _cases(resources, instances).items():

        def apply(e: list[Any] = extra, i: list[Any] = extra_inst) -> None:
            store.resources = resources + e
            pipeline.set_instances(instances + i)
            pipeline.rebuild(0.0)

        def revert() -> None:
            store.resources = resources
            pipeline.set_instances(instances)
            pipeline.rebuild(0.0)

        runs = []
        for _ in range(repeat):
            runs.append(_stats_delta(pipeline, apply))
            revert()
        _profiled(f"{tag}pipeline-{name}", directory, apply)
        revert()
        out[name] = {"cpu_s": round(statistics.median(r[0] for r in runs), 4),
                     "runs_cpu_s": [round(r[0], 4) for r in runs], **runs[0][1]}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--proxies", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--tag", default="", help="prefix of the profile file names (before/after)")
    parser.add_argument("--pipeline", action="store_true", help="the cases through the real Pipeline")
    parser.add_argument("--propagation", action="store_true", help="the propagation change's rebuild")
    parser.add_argument("--live", choices=["sotw", "delta"], help="the propagation change, server and fleet")
    args = parser.parse_args()
    if args.live:
        import asyncio

        print(json.dumps(asyncio.run(_live_propagation(args.proxies, args.live, args.profile, args.tag))))
        return
    if args.pipeline or args.propagation:
        run = pipeline_changes if args.pipeline else propagation_rebuild
        print(json.dumps(run(args.services, args.proxies, args.repeat, args.profile, args.tag)))
        return
    from smimesh.mesh import build_model
    from smimesh.mesh.instances import counter, instances_from_workloads

    resources = bench_scale.synthetic_world(args.services, args.proxies, "sparse")
    workloads = [
        (bench_scale._ns(i), f"w{i}", f"sa{i}", {"app": f"w{i}"}, 1, [("http", 8080)])
        for i in range(args.proxies)
    ]
    instances = instances_from_workloads(workloads, counter(10_000))
    world = {"resources": resources, "instances": instances}
    world["model"] = build_model(resources, instances)
    world["views"] = bench_scale._views(world["model"])
    out: dict[str, Any] = {"services": args.services, "proxies": args.proxies, "repeat": args.repeat}
    for name, (extra, extra_inst) in _cases(resources, instances).items():
        for path, incremental in (("every_view", False), ("affected_only", True)):
            _one_case(world, extra, extra_inst, 1, incremental)  # warm: the first change after the build
            out[f"{name}/{path}"] = _one_case(world, extra, extra_inst, args.repeat, incremental)
            profile_one = lambda e=extra, i=extra_inst, inc=incremental: _one_case(world, e, i, 1, inc)  # noqa: E731
            _profiled(f"{args.tag}scale-{name}-{path}", args.profile, profile_one)
    print(json.dumps(out, indent=1))


def propagation_rebuild(services: int, proxies: int, repeat: int, directory: Path | None, tag: str) -> Any:
    """The propagation benchmark's change (a split's weights, every resource handed over afresh)
    through the real pipeline's rebuild, without the server or the fleet: CPU seconds per rebuild."""
    from bench.bench_propagation import BenchStore, fleet_yaml
    from smimesh.runtime.pipeline import Pipeline
    from smimesh.server.cache import SnapshotCache
    from smimesh.settings import Settings
    from smimesh.testing.bookstore import load_world, world_instances

    worlds = [load_world(fleet_yaml(services, proxies, weights=(90 - n % 2 * 10, 10 + n % 2 * 10)))
              for n in range(repeat + 2)]  # fmt: skip
    store = BenchStore(worlds[0])
    pipeline = Pipeline(store, SnapshotCache(), settings=Settings())
    pipeline.set_instances(world_instances(worlds[0]))
    pipeline.rebuild(0.0)
    times = []
    for n, world in enumerate(worlds[1:]):
        store.resources = world
        start = time.process_time()
        if n == len(worlds) - 2:
            _profiled(f"{tag}propagation-rebuild", directory, lambda: pipeline.rebuild(0.0))
        else:
            pipeline.rebuild(0.0)
            times.append(time.process_time() - start)
    return {"rebuild_cpu_s": round(statistics.median(times), 4), "runs": [round(t, 4) for t in times],
            "recomputed": pipeline.stats.proxies_recomputed}  # fmt: skip


if __name__ == "__main__":
    main()
