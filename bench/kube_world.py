"""The cluster `bench_kubernetes` measures against, and the test API server run as a child process.

Owns the objects (`populate`: N meshed Services, Pods and EndpointSlices in 50 namespaces; with
`policy`, a TrafficTarget per service allowing its next `CALLERS` services' accounts, so each service
has callers and an endpoint change has proxies to reach), the churn driver (one pod's readiness flipped
in its EndpointSlice at a fixed rate), and `python -m bench.kube_world --dir D --pods N --proxies P`:
a test API server holding that cluster in its own process (so the controller's CPU is its own), which
writes `D/kubeconfig` and `D/tokens.json` (API-server-issued tokens of the first P pods), prints
`ready`, runs the churn on a line `churn RATE DURATION` from stdin, prints its result as one JSON line
and exits when stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from smimesh.resources.crd import all_crds, flagger_crds
from smimesh.sources.kubernetes import cluster
from smimesh.testing.kubeapi import KubeApiServer

NAMESPACES = 50
CALLERS = 5  # accounts allowed to call each service (its next services'), when the policy is on
ROUTES = "all"
STRIDE = 7919  # a prime: i * STRIDE % count visits every pod once per round (count not a multiple of it)


def ns_of(i: int) -> str:
    return f"ns-{i % NAMESPACES}"


def ip_of(i: int) -> str:
    return f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"


def node_id(i: int) -> str:
    return f"svc-{i}-0.{ns_of(i)}"


def populate(api: KubeApiServer, count: int, *, policy: bool = False) -> None:
    """`count` Services, Pods and EndpointSlices, stored directly (no HTTP): the cluster before we start."""
    store = api.api.store
    for n in range(NAMESPACES):
        meta = {"name": f"ns-{n}", "labels": {cluster.MONITORED: "smimesh"}}
        store.create(
            ("namespaces", "", f"ns-{n}"), {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
        )
        if policy:
            store.create(("httproutegroups.specs.smi-spec.io", f"ns-{n}", ROUTES), routes(f"ns-{n}"))
    for i in range(count):
        ns, name = ns_of(i), f"svc-{i}"
        store.create(("services", ns, name), service(ns, name))
        store.create(("pods", ns, f"{name}-0"), pod(ns, f"{name}-0", name, ip_of(i)))
        store.create(
            ("endpointslices.discovery.k8s.io", ns, f"{name}-x"), endpoint_slice(ns, name, ip_of(i), True)
        )
        if policy:
            store.create(("traffictargets.access.smi-spec.io", ns, f"to-{name}"), target(i, count))


def service(ns: str, name: str) -> dict[str, Any]:
    spec = {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}


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


def routes(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": ROUTES, "namespace": ns},
        "spec": {"matches": [{"name": "all", "pathRegex": "/.*", "methods": ["*"]}]},
    }


def target(i: int, count: int) -> dict[str, Any]:
    """Service i's account may be called by the accounts of services i+1 .. i+CALLERS."""
    callers = [(i + k) % count for k in range(1, CALLERS + 1)]
    return {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": {"name": f"to-svc-{i}", "namespace": ns_of(i)},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": f"svc-{i}", "namespace": ns_of(i)},
            "sources": [
                {"kind": "ServiceAccount", "name": f"svc-{c}", "namespace": ns_of(c)} for c in callers
            ],
            "rules": [{"kind": "HTTPRouteGroup", "name": ROUTES, "matches": ["all"]}],
        },
    }


def churn_driver(api: KubeApiServer, count: int, rate: float, duration: float) -> dict[str, Any]:
    """Flip one pod's readiness `rate` times a second for `duration` s (every pod once per round of
    `count` changes, in a scattered order),
    written straight into the API server's store (as another client's write would land: the watches
    deliver it; the HTTP handling of a PUT is kube-apiserver's cost, not smimesh's). The result says
    how many changes went out and over how long (the offered load achieved)."""
    sent = 0
    started = time.monotonic()
    for i in range(int(rate * duration)):
        time.sleep(max(0.0, started + i / rate - time.monotonic()))
        n = i * STRIDE % count  # scattered: consecutive changes do not share their callers
        body = endpoint_slice(ns_of(n), f"svc-{n}", ip_of(n), ready=(i // count) % 2 == 1)
        api.api.store.update(("endpointslices.discovery.k8s.io", ns_of(n), f"svc-{n}-x"), body, None)
        sent += 1
    return {"sent": sent, "failed": 0, "planned": int(rate * duration), "took_s": time.monotonic() - started}


def install(api: KubeApiServer) -> None:
    """The CRDs (SMI, and Flagger's, which the controller's canary loop watches) and its namespace."""
    for definition in [*all_crds(), *flagger_crds()]:
        api.create(definition)
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "smimesh-system"}})


def serve(directory: Path, pods: int, proxies: int) -> None:
    """The child process's life: see the module docstring."""
    with KubeApiServer(bookmark_interval=30) as api:
        install(api)
        populate(api, pods, policy=True)
        api.write_kubeconfig(directory / "kubeconfig")
        tokens = {node_id(i): api.issue_token(ns_of(i), f"svc-{i}", pod=f"svc-{i}-0") for i in range(proxies)}
        (directory / "tokens.json").write_text(json.dumps(tokens))
        print("ready", flush=True)
        for line in sys.stdin:
            _, rate, duration = line.split()
            print(json.dumps(churn_driver(api, pods, float(rate), float(duration))), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--pods", type=int, required=True)
    parser.add_argument("--proxies", type=int, required=True)
    args = parser.parse_args()
    serve(args.dir, args.pods, args.proxies)


if __name__ == "__main__":
    main()
