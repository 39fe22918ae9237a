"""Canary controller (issue 14): interval end -> weight live in a real sidecar; CPU of many canaries.

1. `live`: `smimesh up` in this process (real Envoy sidecars) with a client and one Canary stepping
   its weight every interval (metrics: `on-no-data: pass`, so no traffic is needed). For each step,
   the clock runs from the moment the step was due (the end of the interval, as the controller
   scheduled it) to the moment the client's own Envoy holds the new weight in its route config
   (its admin `config_dump`, polled every 5 ms from a thread). This is the whole path: controller
   pass, TrafficSplit written to the store, pipeline rebuild, xDS push, Envoy applying it.
2. `many`: N canaries (100 full, 10 quick) progressing at once in the real controller, store and
   pipeline (model rebuilds on every change) with no processes behind them (targets report
   ready, metrics a healthy constant): process CPU seconds per analysis interval.

Targets: a step live in <= 1 s after its interval ended; 100 canaries all stepping cost <= 0.5 CPU
seconds per analysis interval (the controller, its store writes and the pipeline's model rebuilds;
at Flagger's usual 1 m interval that is under 1 % of one core). Timings are reported, never asserted.

    .venv/bin/python -m bench.bench_canary [--quick] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import envelope
from smimesh.resources import load_text
from smimesh.runtime.app import Console, MeshApp, UpConfig
from smimesh.runtime.canary.analysis import Analysis
from smimesh.runtime.canary.checks import Measurement
from smimesh.runtime.canary.controller import CanaryController
from smimesh.runtime.canary.local_target import LocalTarget
from smimesh.runtime.canary.persist import StatusStore
from smimesh.runtime.canary.webhooks import HookCaller
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.sources.store import ResourceStore
from smimesh.testing import workloads

PY = sys.executable
SERVE = f"[{PY}, {workloads.HERE}, serve]"
LIVE_TARGET_S, CPU_TARGET_S = 1.0, 0.5
INTERVAL_S = 1.0
OPEN = (
    "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec: {trafficPolicy: open}\n"
)


def workload(name: str, version: str, command: str) -> str:
    return f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: b, labels: {{app: {name}}}}}
spec:
  serviceAccount: {name}
  command: {command}
  env: {{VERSION: {version}}}
  ports: [{{name: http, containerPort: 8080}}]
"""


def canary(name: str, step: int, maximum: int) -> str:
    return f"""apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: {name}, namespace: b, annotations: {{smimesh.io/on-no-data: pass}}}}
spec:
  targetRef: {{apiVersion: smimesh.io/v1alpha1, kind: Workload, name: {name}}}
  service: {{port: 80, targetPort: http}}
  analysis:
    interval: {INTERVAL_S:g}s
    threshold: 2
    maxWeight: {maximum}
    stepWeight: {step}
    metrics: [{{name: request-success-rate, thresholdRange: {{min: 90}}}}]
"""


# ---- 1. interval end -> weight live in a real Envoy ------------------------------------------------
class EnvoyWeights(threading.Thread):
    """Polls the client's Envoy for the weight of `web-canary`; records when each new weight appeared."""

    def __init__(self, admin: str) -> None:
        super().__init__(daemon=True)
        self.admin, self.seen, self.stop = admin, {}, threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self.stop.is_set():
                text = client.get(
                    f"http://{self.admin}/config_dump", params={"resource": "dynamic_route_configs"}
                ).text
                weight = canary_weight(json.loads(text))
                if weight is not None and weight not in self.seen:
                    self.seen[weight] = time.monotonic()
                time.sleep(0.005)


def canary_weight(dump: Any) -> int | None:
    if isinstance(dump, dict):
        clusters = dump.get("weighted_clusters", {}).get("clusters")
        if clusters and any("|web-canary|" in c["name"] for c in clusters):
            total = sum(int(c.get("weight", 0)) for c in clusters)
            mine = sum(int(c.get("weight", 0)) for c in clusters if "|web-canary|" in c["name"])
            return round(100 * mine / total)
        dump = list(dump.values())
    if isinstance(dump, list):
        for value in dump:
            found = canary_weight(value)
            if found is not None:
                return found
    return None


async def live(steps: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        directory = root / "mesh"
        directory.mkdir()
        (root / "mesh.yaml").write_text(OPEN)
        serve = SERVE
        (directory / "client.yaml").write_text(
            workload("client", "v1", f"[{PY}, -c, 'import time; time.sleep(1e6)']")
        )
        (directory / "web.yaml").write_text(workload("web", "v1", serve))
        (directory / "canary.yaml").write_text(canary("web", 100 // (steps + 1), 100 // (steps + 1) * steps))
        config = UpConfig(
            directory, run_dir=root / "run", api_addr="127.0.0.1:0", mesh_config=root / "mesh.yaml"
        )
        app = MeshApp(config, Console(say=lambda _: None, diagnostics=lambda _: None))
        try:
            await app.start()
            return await _measure_steps(app, directory, steps)
        finally:
            await app.stop()


async def _measure_steps(app: MeshApp, directory: Path, steps: int) -> dict[str, Any]:
    controller = app.canaries
    await _until(
        lambda: (controller.get("b", "web") or {}).get("status", {}).get("phase") == "Initialized", 120
    )
    await app.wait_ready(60)
    admin = app.supervisor.admin_address("client-0")
    due: dict[int, float] = {}  # weight -> when the step that set it was due (monotonic)
    original = controller._advance

    async def advance(canary: Any, now: float) -> None:  # record the due time of each step
        scheduled = controller._due.get(canary.key, 0.0)
        before = controller.states.get(canary.key)
        weight = before.canary_weight if before else 0
        await original(canary, now)
        after = controller.states[canary.key].canary_weight
        # only steps taken because the interval ended (the first step follows the revision at once)
        if after != weight and after not in due and 0 < scheduled <= now:
            due[after] = time.monotonic() - (time.time() - scheduled)

    controller._advance = advance  # type: ignore[method-assign]
    poller = EnvoyWeights(admin)
    poller.start()
    (directory / "web.yaml").write_text(workload("web", "v2", SERVE))
    try:
        await _until(
            lambda: (controller.get("b", "web") or {}).get("status", {}).get("phase") == "Succeeded", 120
        )
    finally:
        poller.stop.set()
        poller.join(5)
    stepped = sorted(w for w in due if 0 < w < 100 and w in poller.seen)
    delays = [poller.seen[w] - due[w] for w in stepped]
    return {
        "steps": stepped,
        "delays_s": [round(d, 4) for d in delays],
        "max_s": round(max(delays), 4) if delays else None,
        "median_s": round(statistics.median(delays), 4) if delays else None,
    }


async def _until(check: Any, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the canary did not get there")
        await asyncio.sleep(0.05)


# ---- 2. CPU of many concurrent canaries ------------------------------------------------------------
class Healthy:
    async def measure(self, namespace: str, workload: str, window_s: float) -> Measurement:
        return Measurement(100.0, 100.0, 5.0)


async def many(count: int, intervals: int) -> dict[str, Any]:
    docs = []
    for index in range(count):
        name = f"app-{index}"
        docs += [workload(name, "v1", "[sleep, '1']"), canary(name, 5, 95)]
    with tempfile.TemporaryDirectory() as tmp:
        store = ResourceStore()
        await store.replace_origin(
            "/bench/mesh.yaml", load_text("---\n".join(docs), "/bench/mesh.yaml").objects
        )
        pipeline = Pipeline(store, SnapshotCache(), settings=Settings())
        pipeline_task = asyncio.create_task(pipeline.run())
        target = LocalTarget(store, Path(tmp), lambda _node: True)
        hooks = HookCaller()
        analysis = Analysis(target, target, Healthy(), hooks, lambda *_: None)
        controller = CanaryController(
            store, analysis, StatusStore(Path(tmp) / "c.sqlite3"), say=lambda _: None
        )
        task = asyncio.create_task(controller.run())
        try:
            await _until(
                lambda: (
                    all(s.phase == "Initialized" for s in controller.states.values())
                    and len(controller.states) == count
                ),
                120,
            )
            new = [workload(f"app-{i}", "v2", "[sleep, '1']") for i in range(count)]
            objects = load_text(
                "---\n".join(new + [canary(f"app-{i}", 5, 95) for i in range(count)]), "/bench/mesh.yaml"
            ).objects
            cpu0, wall0 = time.process_time(), time.monotonic()
            await store.replace_origin("/bench/mesh.yaml", objects)
            await asyncio.sleep(intervals * INTERVAL_S)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            weights = [s.canary_weight for s in controller.states.values()]
        finally:
            task.cancel()
            pipeline_task.cancel()
            await asyncio.gather(task, pipeline_task, return_exceptions=True)
            await hooks.close()
    return {
        "canaries": count,
        "intervals": intervals,
        "interval_s": INTERVAL_S,
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 2),
        "cpu_per_interval_s": round(cpu / intervals, 4),
        "core_share": round(cpu / wall, 4),
        "weights_reached": sorted(set(weights)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    run = envelope.Run("canary", args.quick)
    figures = {"live": asyncio.run(live(2 if args.quick else 4))}
    figures["many"] = asyncio.run(many(10 if args.quick else 100, 5 if args.quick else 10))
    full = not args.quick
    worst, cpu = figures["live"]["max_s"], figures["many"]["cpu_per_interval_s"]
    targets = [
        envelope.target(
            "interval end -> weight live in the client's Envoy (worst step)",
            f"<= {LIVE_TARGET_S} s",
            worst,
            None if worst is None else worst <= LIVE_TARGET_S,
        ),
        envelope.target(
            "100 canaries stepping: CPU seconds per analysis interval",
            f"<= {CPU_TARGET_S} s",
            cpu,
            cpu <= CPU_TARGET_S if full else None,
        ),
    ]
    path = envelope.write(run, args.results_dir, figures, targets)
    print(json.dumps(figures, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
