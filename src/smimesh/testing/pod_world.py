"""The bookstore world as meshed pods, for the pod end-to-end tests and the pod benchmark (issue 13).

The objects a cluster would hold (namespaces, SMI objects, Services with ClusterIPs from the test range,
injected Pods with their status, EndpointSlices), `seed(api, pods)` to create them in the test API server,
`hosts_file` (Service names to ClusterIPs, for `Kubelet(hosts_file=)`), `inside(netns)` to move the calling
thread (and the threads it starts: the API server, a controller) into the node namespace, and the apps:
`APP` (an HTTP server answering `<APP_NAME> ok path=<path>`), `CLIENT` (N calls, the first word of each
answer counted), `PROBE` (`smimesh.testing.netprobe`); `pod_loopback_dialer(pods)`: where the API
server's port-forward connects.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from smimesh.api.webhooks.config import MONITORED_LABEL, crds_with_bundle
from smimesh.api.webhooks.inject_config import mutating_webhook
from smimesh.pods.inject import InjectConfig, inject_object
from smimesh.resources.crd import WebhookService
from smimesh.runtime.kubernetes.controller import CA_SECRET, ControllerConfig
from smimesh.sources.kubernetes import cluster
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.kubelet import Kubelet, RunningPod
from smimesh.testing.netns import NODE_IP, Pod

PROBE = [sys.executable, "-m", "smimesh.testing.netprobe"]
APP = """
import http.server, os
NAME = os.environ.get("APP_NAME", "web")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{NAME} ok path={self.path}\\n".encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()
"""
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


def pod_object(
    name: str, account: str, labels: dict[str, str], ip: str, serves: bool, *, inject: bool = True
) -> dict[str, Any]:
    if name == "warehouse":  # a server-first TCP server: it greets first (SMTP-like)
        container = {
            "name": "app",
            "image": "warehouse:1",
            "command": [*PROBE, "greet", "9000", "WAREHOUSE"],
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
    injected = inject_object(pod, InjectConfig(xds_address=XDS, concurrency=1)).obj if inject else pod
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


def tcp_call(kubelet: Kubelet, running: RunningPod, host: str, port: int, *, send: bool = True) -> str:
    """What the pod's app gets from `host:port`: the answer to `stock?`, or (`send=False`) the first
    line the server says before the client says anything."""
    app = running.containers["app"]
    probe = [*PROBE, "ask", host, str(port), "stock?"] if send else [*PROBE, "connect", host, str(port)]
    return kubelet.lab.exec(running.pod.netns, kubelet.argv(app, probe)).stdout.strip()


def chi_square(seen: dict[str, int], expected_share: dict[str, float]) -> float:
    total = sum(seen.get(k, 0) for k in expected_share)
    return sum((seen.get(k, 0) - total * p) ** 2 / (total * p) for k, p in expected_share.items())


SERVICES = {
    "bookstore": {"app": "bookstore"},
    "bookstore-v1": {"version": "v1"},
    "bookstore-v2": {"version": "v2"},
    "warehouse": {"app": "warehouse"},
}


def seed(api: KubeApiServer, pods: dict[str, Pod]) -> None:
    """What `smimesh install`, the user's manifests and the cluster's controllers would have created
    besides the Pods: for the pods of `PODS` named in `pods` (their namespaces say their IPs)."""
    for namespace in ("smimesh-system", NS):
        labels = {MONITORED_LABEL: "smimesh"}
        api.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
        )
    for obj in [*crds_with_bundle(b"", WebhookService()), *smi_objects()]:
        api.create(obj)
    for name, selector in SERVICES.items():
        api.create(service(name, selector))
    for account in sorted({account for account, _, _ in PODS.values()}):
        api.create(
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": NS}}
        )
    for name, selector in SERVICES.items():
        members = [(p, pods[p].ip) for p in pods if selector.items() <= PODS[p][1].items()]
        api.create(endpoint_slice(name, members))


def create_pods(api: KubeApiServer, pods: dict[str, Pod], *, inject: bool) -> dict[str, dict[str, Any]]:
    """The Pods as the API server stored them: injected here (`inject`), or as written, for the API
    server's mutating webhook to inject."""
    return {
        name: api.create(pod_object(name, *PODS[name][:2], pods[name].ip, PODS[name][2], inject=inject))
        for name in pods
    }


def register_injector(api: KubeApiServer, webhook_port: int) -> None:
    """The injector's MutatingWebhookConfiguration, trusting the mesh CA (the controller's Secret), and
    the webhook Service routed to the controller's webhook port."""
    with api.client() as client:
        secret = client.get(f"/api/v1/namespaces/smimesh-system/secrets/{CA_SECRET}").json()
    ca_pem = base64.b64decode(secret["data"]["tls.crt"])
    service = WebhookService()
    api.create(mutating_webhook(ca_pem, service))
    api.route_service(service.namespace, service.name, f"127.0.0.1:{webhook_port}")


def controller_config(api: KubeApiServer, directory: Path) -> ControllerConfig:
    return ControllerConfig(
        kubeconfig=api.write_kubeconfig(directory / "kubeconfig"),
        identity="cp-0",
        xds_addr=XDS,
        webhook_addr="127.0.0.1:0",
        state_dir=directory / "cp-0",
        webhook_cert_lifetime=timedelta(days=1),
        api_addr="127.0.0.1:0",  # the SMI metrics API
        inject=InjectConfig(xds_address=XDS, concurrency=1),  # what its /mutate webhook injects
    )


def hosts_file(directory: Path) -> Path:
    """Service names to ClusterIPs, as cluster DNS would answer (bind-mounted on each pod's /etc/hosts)."""
    path = directory / "hosts"
    names = (f"{ip} {name} {name}.{NS} {name}.{NS}.svc\n" for name, ip in CLUSTER_IPS.items())
    path.write_text("127.0.0.1 localhost\n" + "".join(names))
    return path


def pod_loopback_dialer(pods: Mapping[str, Pod]) -> Callable[[Mapping[str, Any], int], socket.socket]:
    """What the kubelet does for `pods/portforward`: connect to 127.0.0.1:PORT inside the pod's network
    namespace (`KubeApiServer.dial_pods`). The socket is made in a thread moved into that namespace
    and keeps it, so the API server's loop can use it from its own namespace."""

    def dial(pod: Mapping[str, Any], port: int) -> socket.socket:
        netns = pods[pod["metadata"]["name"]].netns
        made: list[socket.socket | BaseException] = []

        def connect() -> None:
            try:
                with inside(netns):
                    made.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError as exc:
                made.append(exc)

        worker = threading.Thread(target=connect, name=f"portforward {netns}")
        worker.start()
        worker.join()
        if isinstance(made[0], BaseException):
            raise made[0]
        return made[0]

    return dial
