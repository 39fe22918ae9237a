"""Propagation: one SMI change -> every simulated proxy has ACKed the new config.

A synthetic mesh (S services, P sidecars, dense access policy: every service account may call every
service, one TrafficSplit everybody sees) goes through the real pipeline (store -> debounce ->
build_model -> proxy_view -> generate -> Snapshot -> cache) and the real ADS server. The fleet of
P Envoy-like clients runs in a child process (`smimesh.testing.ads_fleet`), one gRPC connection
each, so the control plane's figures are its own. The change is a weight change of the split; the
clock runs from the store change to each proxy's ACK as the server saw it (SyncState convergence).
SotW and delta run side by side, for the pipeline `smimesh up` runs and, on request, two others:
- `secured` (the default, and what the target is about): `runtime.identity.MeshSecurity` with a CA
  in a temporary run directory and the default modes (smi + strict): mTLS, RBAC, SDS secrets, with
  its `affected` index, wired by `bench.pipelines.secured_pipeline` as `runtime.app` wires it;
- `secured-full`: the same without the index (every view recomputed on every change);
- `plain`: the pipeline's defaults (`mesh.proxy_view` + `xds.generate`, no mTLS): no user runs it.
The fleet subscribes to CDS and LDS (and what they name), not to SDS secrets: a split change leaves
secrets unchanged, so convergence is the same, but the secrets' first push is not in the figures.
Target: all 1,000 ACKed in <= 0.5 s. A run during which other work took over 0.2 cores on average
(`bench.contention`) measured waiting for a core: it gives no verdict.

    .venv/bin/python -m bench.bench_propagation [--quick] [--results-dir DIR] [--variants secured,plain]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import envelope
from bench.child import StdinChild
from bench.contention import CpuShare
from bench.pipelines import plain_pipeline, secured_pipeline
from smimesh.runtime import heap
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.metrics import ControlPlaneMetrics
from smimesh.server.sync import SYNCED, SyncState
from smimesh.settings import Settings
from smimesh.testing.bookstore import load_world, world_instances

TARGET_S = 0.5  # issue 10 (issue 7's stretch target, now the target)
OTHER_CORES_LIMIT = 0.2  # other work's average share of the machine above which a run is not judged
# Other work is also measured over this much idle time before the change: the change's own window
# (~0.5 s) is only ~50 scheduler ticks per core, too coarse alone.
CONTENTION_LEAD_S = 0.5
NAMESPACE = "fleet"
VARIANTS = ("secured", "secured-full", "plain")


def fleet_yaml(
    services: int, proxies: int, weights: tuple[int, int] = (90, 10), narrowed: bool = False
) -> str:
    """S services with P replicas in all, dense TrafficTargets, one split of svc-0 over svc-1/svc-2;
    `narrowed`: the TrafficTarget to sa-3 (outside the split) no longer names the last service account."""
    docs = []
    for index in range(services):
        replicas = proxies // services + (1 if index < proxies % services else 0)
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: svc-{index}, namespace: {NAMESPACE}}}
spec: {{selector: {{app: svc-{index}}}, ports: [{{name: http, port: 80, targetPort: http}}]}}""")
        docs.append(f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: svc-{index}, namespace: {NAMESPACE}, labels: {{app: svc-{index}}}}}
spec: {{serviceAccount: sa-{index}, replicas: {replicas}, command: [python3, app.py],
        ports: [{{name: http, containerPort: 8080}}]}}""")
    docs.append(f"""apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: everything, namespace: {NAMESPACE}}}
spec: {{matches: [{{name: all, pathRegex: ".*"}}]}}""")
    sources = ", ".join(
        f"{{kind: ServiceAccount, name: sa-{i}, namespace: {NAMESPACE}}}" for i in range(services)
    )
    last_out = ", ".join(
        f"{{kind: ServiceAccount, name: sa-{i}, namespace: {NAMESPACE}}}" for i in range(services - 1)
    )
    for index in range(services):
        if narrowed and index == 3:
            sources_of_this = last_out
        else:
            sources_of_this = sources
        docs.append(f"""apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: to-sa-{index}, namespace: {NAMESPACE}}}
spec:
  destination: {{kind: ServiceAccount, name: sa-{index}, namespace: {NAMESPACE}}}
  rules: [{{kind: HTTPRouteGroup, name: everything}}]
  sources: [{sources_of_this}]""")
    docs.append(f"""apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {{name: svc-0, namespace: {NAMESPACE}}}
spec:
  service: svc-0
  backends: [{{service: svc-1, weight: {weights[0]}}}, {{service: svc-2, weight: {weights[1]}}}]""")
    return "\n---\n".join(docs)


@dataclass(frozen=True)
class Change:
    changed_at: float


class BenchStore:
    """A store of hub resources (a list) whose change notices carry the change time."""

    def __init__(self, resources: list[Any]) -> None:
        self.resources = resources
        self.queue: asyncio.Queue[Change] = asyncio.Queue()

    def snapshot(self) -> list[Any]:
        return self.resources

    async def subscribe(self) -> AsyncIterator[Change]:
        yield Change(time.monotonic())
        while True:
            yield await self.queue.get()

    def replace(self, resources: list[Any]) -> float:
        self.resources = resources
        at = time.monotonic()
        self.queue.put_nowait(Change(at))
        return at


class ControlPlane:
    """Server + cache + pipeline + store, started and stopped together."""

    def __init__(self, services: int, proxies: int, variant: str = "secured") -> None:
        self.resources = load_world(fleet_yaml(services, proxies))
        self.instances = world_instances(self.resources)
        self.store, self.cache, self.sync = BenchStore(self.resources), SnapshotCache(), SyncState()
        self.metrics = ControlPlaneMetrics()
        self.server = XdsServer(self.cache, self.sync, metrics=self.metrics)
        self._run_dir = tempfile.TemporaryDirectory(prefix="smimesh-bench-")
        self.pipeline = _pipeline(variant, self.store, self.cache, Path(self._run_dir.name))
        self.converged: list[tuple[str, float]] = []
        self.sync.convergence_listeners.append(lambda node, seconds: self.converged.append((node, seconds)))
        self._task: asyncio.Task[None] | None = None

    @property
    def node_ids(self) -> list[str]:
        return [instance.node_id for instance in self.instances]

    async def start(self) -> None:
        await self.server.start()
        self.pipeline.set_instances(self.instances)
        self._task = asyncio.create_task(self.pipeline.run())
        await self.pipeline.built.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.server.stop()
        self._run_dir.cleanup()

    def pushes(self) -> dict[str, float]:
        """xDS responses sent so far, by type (from the control plane's own metrics)."""
        found: dict[str, float] = {}
        for metric in self.metrics.registry.collect():
            for sample in metric.samples:
                if sample.name == "smimesh_xds_pushes_total":
                    found[sample.labels["type"]] = sample.value
        return found

    async def all_synced(self, within: float) -> float:
        started = time.monotonic()
        while not all(self.sync.status(node) == SYNCED for node in self.node_ids):
            if time.monotonic() - started > within:
                raise TimeoutError(f"not all proxies synced after {within}s: {self.sync.rows()[:3]}")
            await asyncio.sleep(0.01)
        return time.monotonic() - started


def _pipeline(variant: str, store: BenchStore, cache: SnapshotCache, run_dir: Path) -> Pipeline:
    """The pipeline of `variant` (`bench.pipelines`: the secured ones as `smimesh up` wires its own)."""
    if variant == "plain":
        return plain_pipeline(store, cache)
    return secured_pipeline(store, cache, run_dir, indexed=variant == "secured")[0]


class Fleet(StdinChild):
    """The child process running the simulated proxies."""

    def __init__(self, address: str, node_ids: list[str], mode: str, tokens: Path | None = None) -> None:
        self.address, self.node_ids, self.mode = address, node_ids, mode
        self.tokens = tokens  # JSON node id -> bearer token (a controller in a cluster checks them)
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Fleet:
        argv = [
            sys.executable,
            "-m",
            "smimesh.testing.ads_fleet",
            "--address",
            self.address,
            "--mode",
            self.mode,
            *(["--tokens", str(self.tokens)] if self.tokens else []),
        ]
        self.process = await asyncio.create_subprocess_exec(
            *argv, *self.node_ids, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 300)
        if not line.startswith(b"connected"):
            raise RuntimeError(f"fleet failed to start: {line!r}")
        return self


def _minus(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {
        key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    quantiles = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50_s": quantiles[49], "p90_s": quantiles[89], "max_s": ordered[-1], "count": len(ordered)}


CHANGES = {
    "split": "the TrafficSplit's weights 90/10 -> 80/20 (every sidecar sees it)",
    "target": "one TrafficTarget loses one source (RBAC of its destination; the source's reach)",
}


def _changed_world(services: int, proxies: int, change: str) -> list[Any]:
    if change == "target":
        return load_world(fleet_yaml(services, proxies, narrowed=True))
    return load_world(fleet_yaml(services, proxies, weights=(80, 20)))


async def propagation(
    services: int, proxies: int, mode: str, variant: str = "plain", change: str = "split"
) -> dict[str, Any]:
    plane = ControlPlane(services, proxies, variant)
    await plane.start()
    # As `smimesh up` does once started: without it, a full collection walking the start-up heap
    # (~0.2 s) fell in some runs' window.
    heap.freeze_startup_heap()
    initial_build_s = plane.pipeline.stats.last_build_s
    interning = {
        "resources_in_snapshots": sum(_resource_count(plane.cache, node) for node in plane.node_ids),
        "serializations": plane.pipeline.interner.serializations,
    }
    try:
        async with Fleet(plane.server.address, plane.node_ids, mode) as fleet:
            initial_sync_s = await plane.all_synced(within=300)
            plane.converged.clear()
            changed = _changed_world(services, proxies, change)
            pushes_before = plane.pushes()
            views_before = _view_counts(plane.pipeline)
            share = CpuShare([os.getpid(), fleet.pid])
            share.start()
            await asyncio.sleep(CONTENTION_LEAD_S)
            changed_at = plane.store.replace(changed)
            await _all_published_acked(plane, changed_at, views_before)
            contention = share.stop()
            all_acked_s = max((seconds for _, seconds in plane.converged), default=0.0)  # 0: no push
            return {
                "change": CHANGES[change],
                "mode": f"{variant} {mode}",  # the report's row label
                "xds_mode": mode,
                "variant": variant,
                "services": services,
                "proxies": proxies,
                "initial_build_s": initial_build_s,
                "initial_sync_s": initial_sync_s,
                "change_rebuild_s": plane.pipeline.stats.last_build_s,
                "views_for_the_change": _minus(_view_counts(plane.pipeline), views_before),
                "all_acked_s": all_acked_s,
                "per_proxy_convergence": _percentiles([seconds for _, seconds in plane.converged]),
                "pushes_for_the_change": _minus(plane.pushes(), pushes_before),
                "debounce_quiet_s": Settings().debounce_quiet_s,
                "contention": contention,  # other work's share of the machine while this run measured
                "initial_build_interning": interning,
            }
    finally:
        await plane.stop()
        heap.thaw()  # an in-process caller gets its heap back under the cyclic GC


async def _all_published_acked(plane: ControlPlane, changed_at: float, before: dict[str, float]) -> None:
    """Until the change's rebuild is done and every proxy it published a new snapshot for has ACKed."""
    builds = plane.pipeline.stats.builds
    while True:
        if plane.pipeline.stats.builds > builds:
            published = _view_counts(plane.pipeline)["recomputed"] - before["recomputed"]
            if len(plane.converged) >= published:
                return
        if time.monotonic() - changed_at > 120:
            raise TimeoutError(f"only {len(plane.converged)}/{plane.pipeline.stats} proxies converged")
        await asyncio.sleep(0.005)


def _view_counts(pipeline: Pipeline) -> dict[str, float]:
    stats = pipeline.stats
    return {
        "recomputed": stats.proxies_recomputed,
        "unchanged": stats.proxies_unchanged,
        "skipped": stats.proxies_skipped,
    }


def _resource_count(cache: SnapshotCache, node_id: str) -> int:
    snapshot = cache.get_snapshot(node_id)
    return sum(len(snapshot.entries(t)) for t in snapshot.resources) if snapshot else 0


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda run: float(run["all_acked_s"]))
    return ordered[len(ordered) // 2]


def _other_cores(run: dict[str, Any]) -> float:
    return float(run.get("contention", {}).get("other_cores", 0.0))


def judged_median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of the valid runs (other work under OTHER_CORES_LIMIT) when at least half of the runs
    are valid; else the median of all, marked `not_measurable` with why."""
    valid = [run for run in runs if _other_cores(run) <= OTHER_CORES_LIMIT]
    if valid and 2 * len(valid) >= len(runs):
        return {**_median_run(valid), "valid_runs": len(valid)}
    worst = max(_other_cores(run) for run in runs)
    why = (
        f"not measurable in this run: other work took up to {worst:.2f} cores on average while "
        f"{len(runs) - len(valid)} of {len(runs)} runs measured (limit {OTHER_CORES_LIMIT})"
    )
    return {**_median_run(runs), "valid_runs": len(valid), "not_measurable": why}


def _in_fresh_process(quick: bool, mode: str, variant: str, change: str) -> dict[str, Any]:
    """Every run in a new process: the generators' and the interner's caches from an earlier run (which
    already hold the changed config) must not make a later run look cheap."""
    argv = [sys.executable, "-m", "bench.bench_propagation", "--one", mode, "--variants", variant]
    argv += ["--change", change]
    argv += ["--quick"] if quick else []
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def envelope_targets(medians: dict[str, Any], proxies: int, quick: bool) -> list[dict[str, Any]]:
    """One per variant and mode. The target is about 1,000 proxies: a quick run (50) is shown, not
    judged; nor is a median that other work on the machine made unmeasurable."""
    return [_target(key, run, proxies, quick) for key, run in medians.items()]


def _target(key: str, run: dict[str, Any], proxies: int, quick: bool) -> dict[str, Any]:
    name = f"{key}: change -> all {proxies} proxies ACKed (s, median of {run['valid_runs']} valid runs)"
    limit, acked = f"<= {TARGET_S} s at 1,000 proxies", run["all_acked_s"]
    if "not_measurable" in run and not quick:
        return envelope.target(name, limit, acked, None, not_measurable=run["not_measurable"])
    return envelope.target(name, limit, acked, None if quick else acked <= TARGET_S)


def _variants(text: str) -> list[str]:
    chosen = [v.strip() for v in text.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown or not chosen:
        raise SystemExit(f"--variants: unknown {unknown or 'none given'}; choose from {', '.join(VARIANTS)}")
    return chosen


def _ratios(medians: dict[str, Any]) -> dict[str, float]:
    """Each mode's secured variants over its plain one, and delta over SotW per variant."""
    found: dict[str, float] = {}
    for key, run in medians.items():
        variant, mode = key.split("/")
        plain, sotw = medians.get(f"plain/{mode}"), medians.get(f"{variant}/sotw")
        if plain is not None and variant != "plain":
            found[f"{key} over plain/{mode}"] = run["all_acked_s"] / plain["all_acked_s"]
        if sotw is not None and mode == "delta":
            found[f"{key} over {variant}/sotw"] = run["all_acked_s"] / sotw["all_acked_s"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 proxies, one repetition")
    parser.add_argument("--repeat", type=int, default=0, help="repetitions per mode (default 3; quick: 1)")
    parser.add_argument(
        "--one", choices=["sotw", "delta"], help="(internal) one run of one mode, JSON on stdout"
    )
    parser.add_argument(
        "--variants", default="secured", help=f"any of {', '.join(VARIANTS)} (default secured)"
    )
    parser.add_argument("--change", choices=sorted(CHANGES), default="split", help="the change measured")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    services, proxies = (10, 50) if args.quick else (50, 1000)
    repeat = args.repeat or (1 if args.quick else 3)
    variants = _variants(args.variants)
    if args.one:
        print(json.dumps(asyncio.run(propagation(services, proxies, args.one, variants[0], args.change))))
        return
    name = "propagation" if args.change == "split" else f"propagation-{args.change}"
    started = envelope.Run(name, args.quick)
    one = functools.partial(_in_fresh_process, args.quick, change=args.change)
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeat):  # interleaved: a noisy spell of the machine hits every variant alike
        for variant, mode in itertools.product(variants, ("sotw", "delta")):
            runs.setdefault(f"{variant}/{mode}", []).append(one(mode, variant))
    medians = {key: judged_median(key_runs) for key, key_runs in runs.items()}
    result = {
        "target_s": TARGET_S,
        "other_cores_limit": OTHER_CORES_LIMIT,
        "change": CHANGES[args.change],
        "median": medians,
        "runs": runs,
        "ratios": _ratios(medians),
    }
    out = envelope.write(started, args.results_dir, result, envelope_targets(medians, proxies, args.quick))
    for key, key_runs in runs.items():
        each = ", ".join(
            f"{run['all_acked_s']:.3f}s ({_other_cores(run):.2f} cores others)" for run in key_runs
        )
        conv, median = medians[key]["per_proxy_convergence"], medians[key]
        print(
            f"{key:18} {proxies} proxies: all ACKed {median['all_acked_s']:.3f}s (median of {each}) "
            f"rebuild {median['change_rebuild_s']:.3f}s "
            f"(p50 {conv['p50_s']:.3f}s p90 {conv['p90_s']:.3f}s max {conv['max_s']:.3f}s)"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
