"""Kubernetes: the informers' initial sync at scale, and endpoint churn through to ACKed proxies.

Two parts, side by side in one run, against the test API server (`smimesh.testing.kubeapi`) holding
the cluster of `bench.kube_world` (N meshed Services, Pods and EndpointSlices in 50 namespaces):

1. initial sync (the API server on a thread of this process, so its JSON encoding is in the wall
   times): N = 10,000 of each (500 with --quick). A `KubernetesSource` lists and loads everything
   into a `ResourceStore` and computes the instances: wall time to synced, process CPU, RSS growth;
   then the time of the first mesh model built from it.
2. endpoint churn, issue 12's target: 1,000 pods, each a Service whose account may be called by the
   next 5 services' accounts (TrafficTargets), 1,000 proxies connected, 100 pod changes per second for
   60 s, p99 change->ACK <= 1 s. `smimesh controller` runs in this process; the API server (which also
   drives the churn: one pod's readiness flipped in its EndpointSlice, in its store, at the rate, the
   pods in a scattered order) and the 1,000 Envoy-like ADS clients (`smimesh.testing.ads_fleet`,
   authenticating with API-server tokens and ACKing like Envoy) run in child processes, so this
   process's CPU is the control plane's. Measured: change->ACK per proxy as the server's sync state
   records it (from the controller's change stamp, taken when its informer has applied the change, to
   the proxy's ACK: the API server's watch fan-out is not in it), whether every proxy was in sync
   within `DRAIN_S` after the churn, the controller's CPU per change and the views recomputed per change.

Validity (the project's rule on a shared machine): the churn figure gives no verdict ("not measurable
in this run", with why) when other work took more than `OTHER_CORES_LIMIT` cores on average during
the churn (`bench.contention`: machine busy time minus this process and its children), or when the
API server did not offer the planned load (under 95 % of the changes, or over 5 % late): then the
latency describes waiting for a core, not smimesh.

    .venv/bin/python -m bench.bench_kubernetes [--quick] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench import envelope
from bench.bench_propagation import Fleet
from bench.child import StdinChild
from bench.contention import CpuShare
from bench.kube_world import install, node_id, populate
from smimesh.mesh import build_model
from smimesh.runtime.kubernetes.controller import ControllerConfig, KubeController
from smimesh.server.sync import SYNCED
from smimesh.sources.kubernetes.client import KubeClient
from smimesh.sources.kubernetes.kubeconfig import load_cluster
from smimesh.sources.kubernetes.source import KubernetesSource
from smimesh.sources.store import ResourceStore
from smimesh.testing.kubeapi import KubeApiServer

OTHER_CORES_LIMIT = 0.2  # as bench_propagation: other work's average share above which no verdict
DRAIN_S = 30.0  # after the churn, every proxy must be in sync within this
TARGET_MS = 1000.0
REPOSITORY = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


async def initial_sync(api: KubeApiServer, kubeconfig: Path, count: int) -> dict[str, Any]:
    rss0, cpu0, t0 = rss_mb(), time.process_time(), time.perf_counter()
    client = KubeClient(load_cluster(kubeconfig))
    source = KubernetesSource(client, ResourceStore())
    task = asyncio.create_task(source.run())
    await source.wait_synced()
    synced_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    t1 = time.perf_counter()
    model = build_model(source.store.snapshot(), source.instances)
    model_s = time.perf_counter() - t1
    figures = {
        "objects_each": count,
        "synced_s": round(synced_s, 2),
        "cpu_s": round(cpu_s, 2),
        "rss_growth_mb": round(rss_mb() - rss0, 1),
        "first_model_s": round(model_s, 2),
        "services_in_store": sum(1 for s in source.store.items() if s.key.kind == "Service"),
        "instances": len(source.instances),
        "model_services": len(model.services),
    }
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.aclose()
    return figures


class ApiChild(StdinChild):
    """The test API server with the churn cluster, in a child process (`python -m bench.kube_world`)."""

    def __init__(self, directory: Path, pods: int, proxies: int) -> None:
        self.directory, self.pods, self.proxies = directory, pods, proxies
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ApiChild:
        argv = ["-m", "bench.kube_world", "--dir", str(self.directory)]
        argv += ["--pods", str(self.pods), "--proxies", str(self.proxies)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPOSITORY,  # `bench` is a package of the repository
        )
        if await self._line(300) != "ready":
            raise RuntimeError("the test API server did not start")
        return self

    async def _line(self, within_s: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        return (await asyncio.wait_for(self.process.stdout.readline(), within_s)).decode().strip()

    async def churn(self, rate: float, duration: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"churn {rate} {duration}\n".encode())
        await self.process.stdin.drain()
        return dict(json.loads(await self._line(duration * 3 + 60)))


async def all_synced(controller: KubeController, nodes: list[str], within: float) -> float | None:
    """Seconds until every node is connected and SYNCED (None: not within `within`)."""
    started = time.monotonic()
    wanted = set(nodes)
    while time.monotonic() - started < within:
        synced = {r["node_id"] for r in controller.sync.rows() if r["status"] == SYNCED}
        if wanted <= synced:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return None


def percentile_ms(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, int(len(ordered) * fraction) - 1))] * 1000, 1)


@contextlib.asynccontextmanager
async def synced_controller(directory: Path) -> AsyncIterator[KubeController]:
    """`smimesh controller` in this process against the API server of `directory`, synced."""
    config = ControllerConfig(
        kubeconfig=directory / "kubeconfig",
        identity="bench",
        xds_addr="127.0.0.1:0",
        webhook_addr="127.0.0.1:0",
        state_dir=directory / "state",
    )
    controller = KubeController(config)
    await controller.start()
    try:
        await controller.wait_synced()
        yield controller
    finally:
        await controller.stop()


async def churn(directory: Path, pods: int, proxies: int, rate: float, duration: float) -> dict[str, Any]:
    async with ApiChild(directory, pods, proxies) as api, synced_controller(directory) as controller:
        return await churn_with_fleet(api, controller, proxies, rate, duration)


async def churn_with_fleet(
    api: ApiChild, controller: KubeController, proxies: int, rate: float, duration: float
) -> dict[str, Any]:
    nodes = [node_id(i) for i in range(proxies)]
    address = f"127.0.0.1:{controller.xds_port}"
    async with Fleet(address, nodes, "sotw", tokens=api.directory / "tokens.json") as fleet:
        first_sync_s = await all_synced(controller, nodes, 600)
        samples: list[float] = []
        controller.sync.convergence_listeners.append(lambda node, seconds: samples.append(seconds))
        stats0 = dataclasses.asdict(controller.pipeline.stats)
        share, cpu0 = CpuShare([os.getpid(), api.pid, fleet.pid]), time.process_time()
        share.start()
        driven = await api.churn(rate, duration)
        contention, cpu = share.stop(), time.process_time() - cpu0
        drained_s = await all_synced(controller, nodes, DRAIN_S)
    counted = dataclasses.asdict(controller.pipeline.stats).items()
    stats = {k: v - stats0[k] for k, v in counted if isinstance(v, int)}  # the counters, over the churn
    return churn_figures(proxies, rate, duration, driven, samples, cpu, stats) | {
        "first_sync_s": None if first_sync_s is None else round(first_sync_s, 1),
        "in_sync_after_churn_s": None if drained_s is None else round(drained_s, 1),
        "contention": contention,
    }


def churn_figures(
    proxies: int,
    rate: float,
    duration: float,
    driven: dict[str, Any],
    samples: list[float],
    cpu: float,
    stats: dict[str, Any],
) -> dict[str, Any]:
    ordered, sent = sorted(samples), max(1, driven["sent"])
    return {
        "proxies": proxies,
        "changes_per_s": rate,
        "duration_s": duration,
        "changes_sent": driven["sent"],
        "changes_failed": driven["failed"],
        "changes_planned": driven["planned"],
        "driver_took_s": round(driven["took_s"], 1),
        "acks_measured": len(ordered),
        "change_to_ack_p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "change_to_ack_p99_ms": percentile_ms(ordered, 0.99),
        "change_to_ack_max_ms": percentile_ms(ordered, 1.0),
        "controller_cpu_s": round(cpu, 2),
        "cpu_ms_per_change": round(cpu / sent * 1000, 2),
        "views_recomputed_per_change": round(stats["proxies_recomputed"] / sent, 2),
        "pipeline_passes": stats["builds"],
        "pipeline": stats,
    }


def not_measurable(figures: dict[str, Any]) -> str | None:
    """Why the churn run gives no verdict (see the module docstring), or None."""
    others = figures["contention"]["other_cores"]
    if others > OTHER_CORES_LIMIT:
        return (
            f"not measurable in this run: other work took {others:.2f} cores on average during the churn "
            f"(limit {OTHER_CORES_LIMIT}; load average {os.getloadavg()[0]:.1f})"
        )
    planned, sent, took = figures["changes_planned"], figures["changes_sent"], figures["driver_took_s"]
    if sent < 0.95 * planned or took > 1.05 * figures["duration_s"]:
        return (
            f"not measurable in this run: the API server offered {sent}/{planned} changes in {took:.1f} s "
            f"instead of {planned} in {figures['duration_s']:.0f} s (it was short of CPU)"
        )
    return None


def churn_target(figures: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Judged only at 1,000 proxies and 100 changes/s, in a valid run; met = p99 within the target
    and every proxy in sync within DRAIN_S after the churn."""
    p99, why = figures["change_to_ack_p99_ms"], not_measurable(figures)
    name = f"churn p99 change->ACK at {figures['proxies']} proxies, {figures['changes_per_s']:.0f} changes/s"
    at_size = not quick and figures["proxies"] >= 1000 and figures["changes_per_s"] >= 100
    if not at_size or why:
        return envelope.target(
            name, f"<= {TARGET_MS:.0f} ms", p99, None, **({"not_measurable": why} if why else {})
        )
    met = p99 is not None and p99 <= TARGET_MS and figures["in_sync_after_churn_s"] is not None
    return envelope.target(name, f"<= {TARGET_MS:.0f} ms", p99, met)


async def in_cluster(count: int, work: Any) -> dict[str, Any]:
    """`work(api, kubeconfig)` against a fresh test API server (on a thread) holding `count` of each kind."""
    with KubeApiServer(bookmark_interval=30) as api, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = api.write_kubeconfig(Path(tmp) / "kubeconfig")
        install(api)
        populate(api, count)
        result: dict[str, Any] = await work(api, kubeconfig)
        return result


async def main_async(quick: bool) -> dict[str, Any]:
    count, pods = (500, 100) if quick else (10000, 1000)
    proxies, rate, duration = (20, 20.0, 10.0) if quick else (1000, 100.0, 60.0)
    sync = await in_cluster(count, lambda api, kc: initial_sync(api, kc, count))
    with tempfile.TemporaryDirectory(prefix="bench-k8s-") as tmp:
        changes = await churn(Path(tmp), pods, proxies, rate, duration)
    return {"initial_sync": sync, "churn": changes | {"pods": pods}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    run = envelope.Run("kubernetes", args.quick)
    figures = asyncio.run(main_async(args.quick))
    path = envelope.write(run, args.results_dir, figures, [churn_target(figures["churn"], args.quick)])
    print(json.dumps(figures, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
