"""Kubernetes: the informers' initial sync at scale, and endpoint churn through to ACKed proxies.

Against the test API server (`smimesh.testing.kubeapi`, in this process, on its own thread), so its
JSON encoding of every list and event is in the wall times below (a real API server would spend that
on another machine). Two parts, side by side in one run:

1. initial sync: N Services + N EndpointSlices + N Pods (10,000 each; 1,000 with --quick) in 50
   meshed namespaces, stored directly in the server. A `KubernetesSource` lists and loads everything
   into a `ResourceStore` and computes the instances: wall time to synced, process CPU, RSS growth; then
   the time of the first mesh model built from it.
2. endpoint churn: `smimesh controller` (in this process) with P proxies connected (ADS clients that
   authenticate with API-server-issued tokens and ACK like Envoy); a thread flips the readiness of one
   pod in its EndpointSlice R times per second for D seconds. Measured: change->ACK per proxy as the
   server's sync state records it (pipeline change stamp to the proxy's ACK), and the control-plane
   process CPU per change (this process also runs the API server and the clients: an upper bound).
   Issue 12's target is 1,000 proxies, 100 changes/s for 60 s, p99 change->ACK <= 1 s.

    .venv/bin/python -m bench.bench_kubernetes [--quick] [--results-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import envelope
from smimesh.mesh import build_model
from smimesh.resources.crd import all_crds
from smimesh.runtime.kubernetes.controller import ControllerConfig, KubeController
from smimesh.sources.kubernetes import cluster
from smimesh.sources.kubernetes.client import KubeClient
from smimesh.sources.kubernetes.kubeconfig import load_cluster
from smimesh.sources.kubernetes.source import KubernetesSource
from smimesh.sources.store import ResourceStore
from smimesh.testing.ads_client import AdsClient
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.xds import type_urls

NAMESPACES = 50


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def populate(api: KubeApiServer, count: int) -> None:
    """`count` Services, Pods and EndpointSlices, stored directly (no HTTP): the cluster before we start."""
    store = api.api.store
    for n in range(NAMESPACES):
        store.create(
            ("namespaces", "", f"ns-{n}"),
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": f"ns-{n}", "labels": {cluster.MONITORED: "smimesh"}},
            },
        )
    for i in range(count):
        ns, name, ip = f"ns-{i % NAMESPACES}", f"svc-{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        store.create(
            ("services", ns, name),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "selector": {"app": name},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                },
            },
        )
        store.create(("pods", ns, f"{name}-0"), pod(ns, f"{name}-0", name, ip))
        store.create(("endpointslices.discovery.k8s.io", ns, f"{name}-x"), endpoint_slice(ns, name, ip, True))


def pod(ns: str, name: str, app: str, ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {
            "serviceAccountName": app,
            "containers": [{"name": "a", "ports": [{"name": "http", "containerPort": 8080}]}],
        },
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def endpoint_slice(ns: str, service: str, ip: str, ready: bool) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-x", "namespace": ns, "labels": {cluster.SERVICE_NAME: service}},
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": f"{service}-0", "namespace": ns},
            }
        ],
    }


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


def churn_driver(
    api: KubeApiServer,
    count: int,
    rate: float,
    duration: float,
    stop: threading.Event,
    sent: list[float],
    failed: list[float],
) -> None:
    with api.client() as client:
        started = time.monotonic()
        for i in range(int(rate * duration)):
            if stop.is_set():
                return
            target = started + i / rate
            time.sleep(max(0.0, target - time.monotonic()))
            n = i % count
            ns, name, ip = f"ns-{n % NAMESPACES}", f"svc-{n}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
            body = endpoint_slice(ns, name, ip, ready=(i // count) % 2 == 1)
            try:
                client.put(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{name}-x", json=body)
            except httpx.HTTPError:
                failed.append(time.monotonic())  # the in-process API server is overloaded: counted, not fatal
                continue
            sent.append(time.monotonic())


async def churn(
    api: KubeApiServer, kubeconfig: Path, count: int, proxies: int, rate: float, duration: float
) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="bench-k8s-"))
    config = ControllerConfig(
        kubeconfig=kubeconfig,
        identity="bench",
        xds_addr="127.0.0.1:0",
        webhook_addr="127.0.0.1:0",
        state_dir=state,
    )
    controller = KubeController(config)
    await controller.start()
    await controller.wait_synced()
    samples: list[float] = []
    controller.sync.convergence_listeners.append(lambda node, seconds: samples.append(seconds))
    clients = []
    for i in range(proxies):
        ns, name = f"ns-{i % NAMESPACES}", f"svc-{i}"
        token = api.issue_token(ns, name, pod=f"{name}-0")
        client = AdsClient(
            f"{name}-0.{ns}",
            address=f"127.0.0.1:{controller.xds_port}",
            follow=True,
            metadata=(("authorization", f"Bearer {token}"),),
        )
        await client.connect()
        await client.subscribe(type_urls.CLUSTER)
        await client.subscribe(type_urls.LISTENER)
        clients.append(client)
    await asyncio.sleep(5)  # every proxy through its first snapshot
    samples.clear()
    sent: list[float] = []
    failed: list[float] = []
    stop = threading.Event()
    cpu0 = time.process_time()
    driver = threading.Thread(target=churn_driver, args=(api, count, rate, duration, stop, sent, failed))
    driver.start()
    await asyncio.to_thread(driver.join)
    await asyncio.sleep(3)  # the last changes reach every proxy
    cpu = time.process_time() - cpu0
    for client in clients:
        await client.close()
    await controller.stop()
    ordered = sorted(samples)
    return {
        "proxies": proxies,
        "changes_per_s": rate,
        "duration_s": duration,
        "changes_sent": len(sent),
        "changes_failed": len(failed),
        "acks_measured": len(ordered),
        "change_to_ack_p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "change_to_ack_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1) if ordered else None,
        "change_to_ack_max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
        "process_cpu_s": round(cpu, 2),
        "cpu_ms_per_change": round(cpu / max(1, len(sent)) * 1000, 2),
        "builds": controller.pipeline.stats if hasattr(controller.pipeline, "stats") else None,
    }


async def in_cluster(count: int, work: Any) -> dict[str, Any]:
    """`work(api, kubeconfig)` against a fresh test API server holding `count` of each kind."""
    with KubeApiServer(bookmark_interval=30) as api, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = api.write_kubeconfig(Path(tmp) / "kubeconfig")
        for definition in all_crds():
            api.create(definition)
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "smimesh-system"}})
        populate(api, count)
        result: dict[str, Any] = await work(api, kubeconfig)
        return result


async def main_async(quick: bool) -> dict[str, Any]:
    count, pods = (500, 100) if quick else (10000, 1000)
    proxies, rate, duration = (10, 20.0, 10.0) if quick else (200, 100.0, 60.0)
    sync = await in_cluster(count, lambda api, kc: initial_sync(api, kc, count))
    changes = await in_cluster(pods, lambda api, kc: churn(api, kc, pods, proxies, rate, duration))
    return {"initial_sync": sync, "churn": changes | {"pods": pods}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    run = envelope.Run("kubernetes", args.quick)
    figures = asyncio.run(main_async(args.quick))
    p99 = figures["churn"]["change_to_ack_p99_ms"]
    full = not args.quick and figures["churn"]["proxies"] >= 1000
    targets = [
        envelope.target(
            "churn p99 change->ACK at 1,000 proxies, 100 changes/s",
            "<= 1000 ms",
            p99,
            (p99 is not None and p99 <= 1000) if full else None,
            note=f"measured at {figures['churn']['proxies']} proxies",
        )
    ]
    path = envelope.write(run, args.results_dir, figures, targets)
    print(json.dumps(figures, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
