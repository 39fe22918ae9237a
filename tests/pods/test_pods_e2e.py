"""The bookstore world as meshed pods: real `smimesh controller` and test API server in the node
namespace, every pod injected by `smimesh inject`'s function and run by the test kit's kubelet in its
own network namespace, apps calling `http://bookstore:8080/` by ClusterIP (a hosts file per pod).

What a user sees is asserted: which backend answered (the 90/10 split within chi-square tolerance),
403 for a caller the TrafficTarget does not name (the destination's RBAC decides on the peer's mTLS
SPIFFE id, and counts the allowed caller's requests under its TrafficTarget), no plaintext path to an
app from another pod, and pods that keep serving with the control plane away.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.kubernetes.kube_e2e import ControllerThread
from tests.kubernetes.kube_world import meshed_namespace
from tests.pods.netlab_kit import PROBE, lab, needs_root
from tests.pods.test_kubelet_netns import APP, from_node, http_in

from smimesh.api.webhooks.config import crds_with_bundle
from smimesh.pods.inject import InjectConfig, inject_object
from smimesh.resources.crd import WebhookService
from smimesh.runtime.kubernetes.controller import ControllerConfig
from smimesh.sources.kubernetes import cluster
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.kubelet import Kubelet, RunningPod
from smimesh.testing.net import wait_until
from smimesh.testing.netns import NODE_IP, NetLab, Pod

__all__ = ["lab"]
pytestmark = [needs_root, pytest.mark.envoy, pytest.mark.slow]
NS = "books"
XDS = f"{NODE_IP}:15128"
CLUSTER_IPS = {
    "bookstore": "198.19.0.10",
    "bookstore-v1": "198.19.0.11",
    "bookstore-v2": "198.19.0.12",
    "warehouse": "198.19.0.20",
}
CHI2_DF1_P001 = 10.83
CLIENT = """
import collections, json, sys, urllib.request, urllib.error
seen = collections.Counter()
for _ in range(int(sys.argv[1])):
    try:
        with urllib.request.urlopen(sys.argv[2], timeout=10) as r:
            seen[r.read().decode().split()[0]] += 1
    except urllib.error.HTTPError as e:
        seen[str(e.code)] += 1
    except OSError as e:
        seen["error " + type(e).__name__] += 1
print(json.dumps(seen))
"""


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """This thread (and every thread it starts) in network namespace `netns` until the block ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        assert libc.setns(target, 0x40000000) == 0, os.strerror(ctypes.get_errno())
        yield
    finally:
        libc.setns(own, 0x40000000)
        os.close(own)
        os.close(target)


def smi_objects() -> list[dict[str, Any]]:
    meta = {"namespace": NS}
    return [
        {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "HTTPRouteGroup",
            "metadata": {"name": "bookstore-routes", **meta},
            "spec": {"matches": [{"name": "all", "pathRegex": "/.*", "methods": ["GET"]}]},
        },
        {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": "buyer-to-bookstore", **meta},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": "bookstore", "namespace": NS},
                "rules": [{"kind": "HTTPRouteGroup", "name": "bookstore-routes", "matches": ["all"]}],
                "sources": [{"kind": "ServiceAccount", "name": "bookbuyer", "namespace": NS}],
            },
        },
        {
            "apiVersion": "specs.smi-spec.io/v1alpha4",
            "kind": "TCPRoute",
            "metadata": {"name": "warehouse-tcp", **meta},
            "spec": {"matches": {"ports": [9000]}},
        },
        {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": "buyer-to-warehouse", **meta},
            "spec": {
                "destination": {"kind": "ServiceAccount", "name": "warehouse", "namespace": NS},
                "rules": [{"kind": "TCPRoute", "name": "warehouse-tcp"}],
                "sources": [{"kind": "ServiceAccount", "name": "bookbuyer", "namespace": NS}],
            },
        },
        {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "kind": "TrafficSplit",
            "metadata": {"name": "bookstore-split", **meta},
            "spec": {
                "service": "bookstore",
                "backends": [
                    {"service": "bookstore-v1", "weight": 90},
                    {"service": "bookstore-v2", "weight": 10},
                ],
            },
        },
    ]


def service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    port = {"name": "http", "port": 8080, "targetPort": 8080, "appProtocol": "http"}
    if name == "warehouse":
        port = {"name": "tcp", "port": 9000, "targetPort": 9000, "appProtocol": "tcp"}
    spec = {"selector": selector, "clusterIP": CLUSTER_IPS[name], "ports": [port]}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def pod_object(name: str, account: str, labels: dict[str, str], ip: str, serves: bool) -> dict[str, Any]:
    if (
        name == "warehouse"
    ):  # a client-first TCP server (see the server-first note in docs/kubernetes-pods.md)
        container = {
            "name": "app",
            "image": "warehouse:1",
            "command": [*PROBE, "echo", "9000", "WAREHOUSE"],
            "ports": [{"name": "tcp", "containerPort": 9000}],
        }
    elif serves:
        container = {
            "name": "app",
            "image": "bookstore:1",
            "command": [sys.executable, "-c", APP],
            "env": [{"name": "APP_NAME", "value": name}],
            "ports": [{"name": "http", "containerPort": 8080}],
        }
    else:
        container = {
            "name": "app",
            "image": "client:1",
            "command": [sys.executable, "-c", "import time; time.sleep(3600)"],
        }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels},
        "spec": {"serviceAccountName": account, "containers": [container]},
    }
    injected = inject_object(pod, InjectConfig(xds_address=XDS, concurrency=1)).obj
    injected["status"] = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    return injected


def endpoint_slice(service_name: str, pods: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service_name}-1",
            "namespace": NS,
            "labels": {cluster.SERVICE_NAME: service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "tcp", "port": 9000}]
        if service_name == "warehouse"
        else [{"name": "http", "port": 8080}],
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": {"ready": True},
                "targetRef": {"kind": "Pod", "name": name, "namespace": NS},
            }
            for name, ip in pods
        ],
    }


PODS = {  # name: (service account, labels, serves)
    "bookstore-v1": ("bookstore", {"app": "bookstore", "version": "v1"}, True),
    "bookstore-v2": ("bookstore", {"app": "bookstore", "version": "v2"}, True),
    "bookbuyer": ("bookbuyer", {"app": "bookbuyer"}, False),
    "bookthief": ("bookthief", {"app": "bookthief"}, False),
    "warehouse": ("warehouse", {"app": "warehouse"}, True),
}


def calls(
    kubelet: Kubelet, running: RunningPod, count: int, url: str = "http://bookstore:8080/books"
) -> dict[str, int]:
    app = running.containers["app"]
    done = kubelet.lab.exec(
        running.pod.netns, kubelet.argv(app, [sys.executable, "-c", CLIENT, str(count), url]), timeout=300
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def tcp_call(kubelet: Kubelet, running: RunningPod, host: str, port: int) -> str:
    app = running.containers["app"]
    done = kubelet.lab.exec(running.pod.netns, kubelet.argv(app, [*PROBE, "ask", host, str(port), "stock?"]))
    return done.stdout.strip()


def chi_square(seen: dict[str, int], expected_share: dict[str, float]) -> float:
    total = sum(seen.get(k, 0) for k in expected_share)
    return sum((seen.get(k, 0) - total * p) ** 2 / (total * p) for k, p in expected_share.items())


SERVICES = {
    "bookstore": {"app": "bookstore"},
    "bookstore-v1": {"version": "v1"},
    "bookstore-v2": {"version": "v2"},
    "warehouse": {"app": "warehouse"},
}


def seed(api: KubeApiServer, pods: dict[str, Pod]) -> dict[str, dict[str, Any]]:
    """What `smimesh install`, the user's manifests and the cluster's controllers would have created;
    returns the (injected) Pod objects as stored."""
    meshed_namespace(api, "smimesh-system")
    meshed_namespace(api, NS)
    for obj in [*crds_with_bundle(b"", WebhookService()), *smi_objects()]:
        api.create(obj)
    for name, selector in SERVICES.items():
        api.create(service(name, selector))
    for account in sorted({account for account, _, _ in PODS.values()}):
        api.create(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": NS}}
        )
    stored = {
        name: api.create(pod_object(name, account, labels, pods[name].ip, serves))
        for name, (account, labels, serves) in PODS.items()
    }
    for name, selector in SERVICES.items():
        members = [
            (p, pods[p].ip) for p, (_, labels, _) in PODS.items() if selector.items() <= labels.items()
        ]
        api.create(endpoint_slice(name, members))
    return stored


def controller_config(api: KubeApiServer, directory: Path) -> ControllerConfig:
    return ControllerConfig(
        kubeconfig=api.write_kubeconfig(directory / "kubeconfig"),
        identity="cp-0",
        xds_addr=XDS,
        webhook_addr="127.0.0.1:0",
        state_dir=directory / "cp-0",
        webhook_cert_lifetime=timedelta(days=1),
    )


def hosts_file(directory: Path) -> Path:
    """Service names to ClusterIPs, as cluster DNS would answer (bind-mounted on each pod's /etc/hosts)."""
    path = directory / "hosts"
    names = (f"{ip} {name} {name}.{NS} {name}.{NS}.svc\n" for name, ip in CLUSTER_IPS.items())
    path.write_text("127.0.0.1 localhost\n" + "".join(names))
    return path


def test_bookstore_as_meshed_pods(lab: NetLab, tmp_path: Path) -> None:
    pods = {name: lab.add_pod(name) for name in PODS}
    kubelet = Kubelet(lab, tmp_path, hosts_file=hosts_file(tmp_path))
    with inside(lab.node), KubeApiServer() as api:
        stored = seed(api, pods)
        controller = ControllerThread(controller_config(api, tmp_path)).start()
        try:
            running = {
                name: kubelet.start(
                    stored[name],
                    pods[name],
                    token=api.issue_token(NS, PODS[name][0], pod=name),
                    startup_timeout=120,
                )
                for name in PODS
            }
            buyer, thief = running["bookbuyer"], running["bookthief"]
            # every sidecar has its config once a burst sees both backends and nothing else
            both = {"bookstore-v1", "bookstore-v2"}
            wait_until(
                lambda: set(calls(kubelet, buyer, 30)) == both, timeout=90, interval=1, what="both backends"
            )
            seen = calls(kubelet, buyer, 300)
            assert set(seen) <= both, seen
            assert chi_square(seen, {"bookstore-v1": 0.9, "bookstore-v2": 0.1}) < CHI2_DF1_P001, seen
            assert calls(kubelet, thief, 5) == {"403": 5}  # not a source of the TrafficTarget
            # the destination's RBAC counted the buyer's calls under the TrafficTarget that allowed them
            _, stats = from_node(lab, f"http://{pods['bookstore-v1'].ip}:15020/stats/prometheus")
            assert "buyer-to-bookstore" in stats
            # strict mTLS: plaintext from another pod (even as the proxy's UID, past its own sidecar) fails
            url = f"http://{pods['bookstore-v1'].ip}:8080/books"
            assert http_in(lab, pods["bookthief"].netns, url, uid=1337)[0] == 0
            # a TCP service by ClusterIP, through both sidecars (mTLS), allowed by a TCPRoute
            assert tcp_call(kubelet, buyer, "warehouse", 9000) == "WAREHOUSE got stock?"
            assert tcp_call(kubelet, thief, "warehouse", 9000).startswith("ERROR")  # closed by the RBAC
            # the control plane away: pods keep serving with the config they hold
            controller.stop()
            seen = calls(kubelet, buyer, 20)
            assert sum(seen.get(k, 0) for k in both) == 20, seen
        finally:
            controller.stop()
