"""Pods (issue 13): data-plane overhead of meshed pods, side by side in one run.

Paths, all measured by the same closed-loop client (one request at a time, a new connection each,
latency per request) in one run:
- `pods-meshed`: a client in the `bookbuyer` pod calls `http://bookstore-v1:8080/` by ClusterIP; its
  connection is captured, goes through both sidecars with mTLS and the destination's RBAC, and is
  captured again into the server pod's sidecar (the real controller, the test API server, pods run by
  the test kit's kubelet in network namespaces: `smimesh.testing.pod_world`);
- `pods-plain`: the same client and server apps in two pods that are not injected: no capture, no sidecar;
- `local-direct` and `local-mesh`: on loopback, the client straight to the B1 backend, and through two
  `smimesh up` sidecars (B1's mesh path, `bench/dataplane/mesh_path.py`).
Added latency = meshed - plain (pods) and mesh - direct (local); CPU per request = the two sidecars'
CPU seconds over the run / requests. The pod and local backends differ (a threading HTTP server in the
pods, B1's asyncio backend locally): compare the *added* figures. Needs root (network namespaces);
without it the JSON says why and states no measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import envelope
from bench.dataplane import procs
from bench.dataplane.mesh_path import mesh_path
from bench.dataplane.paths import PathUnavailable, direct
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.kubelet import Kubelet, RunningPod
from smimesh.testing.net import wait_until
from smimesh.testing.netns import NetLab, Pod, root_reason
from smimesh.testing.pod_world import NS, XDS, create_pods, hosts_file, inside, pod_object, seed

CLIENT = """
import http.client, json, sys, time
host, port, header, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
took, bad = [], 0
for _ in range(count):
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/", headers={"Host": header})
        answer = conn.getresponse(); answer.read()
        bad += answer.status != 200
    except OSError:
        bad += 1
    finally:
        conn.close()
    took.append(time.perf_counter() - started)
took.sort()
pick = lambda p: round(took[min(len(took) - 1, int(p * len(took)))] * 1000, 3)
found = {"requests": count, "failed": bad}
print(json.dumps({**found, "p50_ms": pick(0.5), "p90_ms": pick(0.9), "p99_ms": pick(0.99)}))
"""
MESHED = ("bookbuyer", "bookstore-v1")


def measure(argv: list[str], pids: list[int], count: int) -> dict[str, Any]:
    before = sum(procs.cpu_seconds(pid) for pid in pids)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise PathUnavailable(f"client failed: {done.stderr.strip()[-300:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    if pids:
        spent = sum(procs.cpu_seconds(pid) for pid in pids) - before
        result["sidecar_cpu_ms_per_request"] = round(spent * 1000 / count, 4)
    return result


def in_pod(kubelet: Kubelet, running: RunningPod, host: str, count: int) -> list[str]:
    client = [sys.executable, "-c", CLIENT, host, "8080", f"{host}:8080", str(count)]
    return kubelet.lab.argv(running.pod.netns, kubelet.argv(running.containers["app"], client))


def start_meshed(kubelet: Kubelet, api: KubeApiServer, obj: dict[str, Any], pod: Pod) -> RunningPod:
    token = api.issue_token(NS, obj["spec"]["serviceAccountName"], pod=pod.name)
    return kubelet.start(obj, pod, token=token, startup_timeout=120)


def pid_of(running: RunningPod) -> int:
    process = running.containers["smimesh-proxy"].process
    assert process is not None
    return process.pid


def pod_paths(work: Path, count: int) -> dict[str, Any]:
    with NetLab() as lab:
        pods = {name: lab.add_pod(name) for name in (*MESHED, "plain-client", "plain-server")}
        kubelet = Kubelet(lab, work, hosts_file=hosts_file(work))
        with inside(lab.node), KubeApiServer() as api:
            meshed = {name: pods[name] for name in MESHED}
            seed(api, meshed)
            stored = create_pods(api, meshed, inject=True)
            kubeconfig = str(api.write_kubeconfig(work / "kubeconfig"))
            controller = [kubelet.smimesh, "controller", "--kubeconfig", kubeconfig, "--xds-addr", XDS]
            controller += ["--webhook-addr", "127.0.0.1:9443", "--state-dir", str(work / "cp")]
            lab.run(lab.node, controller, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running = {name: start_meshed(kubelet, api, stored[name], pods[name]) for name in MESHED}
            plain = {
                name: kubelet.start(
                    pod_object(name, "default", {}, pods[name].ip, serves, inject=False), pods[name]
                )
                for name, serves in (("plain-server", True), ("plain-client", False))
            }
            buyer = running["bookbuyer"]
            first = in_pod(kubelet, buyer, "bookstore-v1", 5)
            wait_until(lambda: measure(first, [], 5)["failed"] == 0, timeout=90, interval=1, what="an answer")
            sidecars = [pid_of(running[name]) for name in MESHED]
            plain_ip = pods["plain-server"].ip
            return {
                "pods-meshed": measure(in_pod(kubelet, buyer, "bookstore-v1", count), sidecars, count),
                "pods-plain": measure(in_pod(kubelet, plain["plain-client"], plain_ip, count), [], count),
            }


def local_paths(work: Path, count: int) -> dict[str, Any]:
    where = procs.placement()
    found: dict[str, Any] = {}
    with direct(where, work) as target:
        argv = [sys.executable, "-c", CLIENT, target.host, str(target.port), target.host_header, str(count)]
        found["local-direct"] = measure(argv, [], count)
    with mesh_path(where, work) as target:
        argv = [sys.executable, "-c", CLIENT, target.host, str(target.port), target.host_header, str(count)]
        found["local-mesh"] = measure(argv, list(target.proxies.values()), count)
    return found


def measure_all(work: Path, count: int) -> dict[str, Any]:
    (work / "pods").mkdir()
    os.chmod(work, 0o755)  # the sidecar's user reads the token mount's source through it
    return {**pod_paths(work / "pods", count), **local_paths(work, count)}


def added(paths: dict[str, Any], over: str, base: str) -> dict[str, float] | None:
    if over not in paths or base not in paths:
        return None
    return {k: round(paths[over][k] - paths[base][k], 3) for k in ("p50_ms", "p99_ms")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 requests per path instead of 3,000")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    run = envelope.Run("pods", args.quick)
    count = 200 if args.quick else 3000
    reason = root_reason()
    figures: dict[str, Any] = {
        "requests_per_path": count,
        "client": "closed loop, one connection per request",
    }
    if reason:
        figures["skipped"] = reason
    else:
        with tempfile.TemporaryDirectory(prefix="bench-pods-") as tmp:
            paths = measure_all(Path(tmp), count)
        figures["paths"] = paths
        figures["added_pods"] = added(paths, "pods-meshed", "pods-plain")
        figures["added_local"] = added(paths, "local-mesh", "local-direct")
    pods_added = (figures.get("added_pods") or {}).get("p99_ms")
    local_added = (figures.get("added_local") or {}).get("p99_ms")
    targets = [
        envelope.target("added p99 in pods (meshed - plain), ms", "reported, no target", pods_added, None),
        envelope.target("added p99 locally (mesh - direct), ms", "reported, no target", local_added, None),
    ]
    out = envelope.write(run, args.results_dir, figures, targets)
    print(f"  wrote {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
