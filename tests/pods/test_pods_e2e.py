"""The bookstore world as meshed pods: real `smimesh controller` and test API server in the node
namespace, every pod injected at creation by the controller's mutating webhook (called by the test API
server over HTTPS) and run, as stored, by the test kit's kubelet in its own network namespace; apps
call `http://bookstore:8080/` by ClusterIP (a hosts file per pod).

What a user sees is asserted: which backend answered (the 90/10 split within chi-square tolerance),
403 for a caller the TrafficTarget does not name (the destination's RBAC decides on the peer's mTLS
SPIFFE id, and counts the allowed caller's requests under its TrafficTarget), no plaintext path to an
app from another pod, egress (an "external" server in a namespace of its own: reached by every pod
while the mesh holds no Egress; once an OSM Egress is created through the API server, only by the
caller it names and only on its host, the others 403), and pods that keep serving with the control
plane away.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tests.kubernetes.kube_e2e import ControllerThread
from tests.pods.netlab_kit import lab, needs_root
from tests.pods.test_kubelet_netns import from_node, http_in

from smimesh.api.metrics_routes import PREFIX as METRICS
from smimesh.telemetry.quantiles import parse_quantity
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.kubelet import Kubelet
from smimesh.testing.net import wait_until
from smimesh.testing.netns import NetLab, Pod
from smimesh.testing.pod_world import (
    APP,
    CHI2_DF1_P001,
    NS,
    PODS,
    calls,
    chi_square,
    controller_config,
    create_pods,
    hosts_file,
    inside,
    pod_loopback_dialer,
    register_injector,
    seed,
    tcp_call,
)
from smimesh.xds.names import route_name

__all__ = ["lab"]
pytestmark = [needs_root, pytest.mark.envoy, pytest.mark.slow]


def metrics_counted(api_port: int) -> float:
    """Successes the SMI metrics API counts on the buyer pod's edges (to bookstore-v1 and -v2)."""
    url = f"http://127.0.0.1:{api_port}{METRICS}/namespaces/{NS}/pods/bookbuyer/edges?window=5m"
    with urllib.request.urlopen(url, timeout=5) as answer:
        edges = json.loads(answer.read())["items"]
    served = {e["edge"]["resource"]["name"] for e in edges if e["edge"]["direction"] == "to"}
    assert served <= {"bookstore-v1", "bookstore-v2"}, edges
    return sum(
        parse_quantity(next(m["value"] for m in e["metrics"] if m["name"] == "success_count")) for e in edges
    )


EGRESS = {
    "apiVersion": "policy.openservicemesh.io/v1alpha1",
    "kind": "Egress",
    "metadata": {"name": "buyer-to-external", "namespace": NS},
    "spec": {
        "sources": [{"kind": "ServiceAccount", "name": "bookbuyer", "namespace": NS}],
        "hosts": ["api.external.example"],
        "ports": [{"number": 8080, "protocol": "http"}],
    },
}


def external_server(lab: NetLab, hosts: Path) -> None:
    """An "external" HTTP server in a namespace of its own (no sidecar), named in the pods' hosts file."""
    ext = lab.add_pod("external")
    lab.run(ext.netns, [sys.executable, "-c", APP], env={"APP_NAME": "EXTERNAL", "PATH": "/usr/bin:/bin"})
    with hosts.open("a") as names:
        names.write(f"{ext.ip} api.external.example other.external.example\n")


def _reads_sidecars_through_portforward(
    lab: NetLab, api: KubeApiServer, pods: dict[str, Pod], controller: ControllerThread, directory: Path
) -> None:
    """`proxy-config` and `explain --live` from the node, as a kubectl user: the injected sidecars' admin
    (127.0.0.1:15000 inside each pod, never on the pod IP) read through the API server's port-forward."""
    api.dial_pods(pod_loopback_dialer(pods))
    api.route_proxy("smimesh-system", "smimesh-controller", "api", f"127.0.0.1:{controller.ctl.api.port}")
    kubeconfig = api.write_kubeconfig(directory / "user-kubeconfig", namespace=NS)

    def smimesh(*args: str) -> subprocess.CompletedProcess[str]:
        return lab.exec(lab.node, [sys.executable, "-m", "smimesh", *args, "--kubeconfig", str(kubeconfig)])

    clusters = smimesh("proxy-config", "bookbuyer", "--type", "clusters")  # -n: the context's namespace
    assert clusters.returncode == 0, clusters.stderr
    rows = [line.split() for line in clusters.stdout.splitlines()]
    assert ["cluster", f"outbound|{NS}|bookstore|8080", "EDS", "active"] in rows, clusters.stdout
    for source, code in (("bookbuyer", 0), ("bookthief", 1)):
        query = ["explain", "--from", f"{NS}/{source}", "--to", f"bookstore.{NS}"]
        model, live = smimesh(*query), smimesh(*query, "--live")
        assert (live.returncode, model.returncode) == (code, code), (live, model)
        assert live.stdout.splitlines()[0] == model.stdout.splitlines()[0], (live.stdout, model.stdout)
        for pod in ("bookstore-v1", "bookstore-v2"):  # the destination pods enforce what the model says
            verdict = f"{pod}: enforces TrafficTarget/{NS}/buyer-to-bookstore - matches the control plane"
            assert verdict in live.stdout, live.stdout
        assert live.stdout.count("RBAC counters: allowed=") == 2, live.stdout  # the buyer's calls


def test_bookstore_as_meshed_pods(lab: NetLab, tmp_path: Path) -> None:
    pods = {name: lab.add_pod(name) for name in PODS}
    kubelet = Kubelet(lab, tmp_path, hosts_file=hosts_file(tmp_path))
    assert kubelet.hosts_file is not None
    external_server(lab, kubelet.hosts_file)
    with inside(lab.node), KubeApiServer() as api:
        seed(api, pods)
        controller = ControllerThread(controller_config(api, tmp_path)).start()
        try:
            # Pods are created as written; the API server's call to the controller's /mutate injects them
            register_injector(api, controller.ctl.webhook_port)
            stored = create_pods(api, pods, inject=False)
            assert all(s["metadata"]["annotations"]["smimesh.io/injected"] == "v1" for s in stored.values())
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
            # the SMI metrics API of the controller counted the buyer's calls, per backend pod
            api_port = controller.ctl.api.port
            wait_until(lambda: metrics_counted(api_port) >= 300, timeout=30, interval=1, what="metrics")
            # the destination counted the buyer's calls under the route of the match that allowed them
            _, stats = from_node(lab, f"http://{pods['bookstore-v1'].ip}:15020/stats/prometheus")
            # (that route's cluster: local_app|<port>|<route>)
            route = f'|{route_name(NS, "bookstore-routes", "all")}"}} '
            served = [
                int(line.partition(route)[2])
                for line in stats.splitlines()
                if line.startswith("envoy_cluster_upstream_rq_total{") and route in line
            ]
            assert served and served[0] >= 1, stats
            _reads_sidecars_through_portforward(lab, api, pods, controller, tmp_path)
            # strict mTLS: plaintext from another pod (even as the proxy's UID, past its own sidecar) fails
            url = f"http://{pods['bookstore-v1'].ip}:8080/books"
            assert http_in(lab, pods["bookthief"].netns, url, uid=1337)[0] == 0
            # a TCP service by ClusterIP, through both sidecars (mTLS), allowed by a TCPRoute
            assert tcp_call(kubelet, buyer, "warehouse", 9000) == "WAREHOUSE got stock?"
            assert tcp_call(kubelet, buyer, "warehouse", 9000, send=False) == "WAREHOUSE ready"
            assert tcp_call(kubelet, thief, "warehouse", 9000).startswith("ERROR")  # refused by the mesh
            # ... before the server-first app's greeting (its own sidecar closes, the destination refuses
            # at the mTLS handshake: tests/access/test_e2e_server_first.py)
            assert tcp_call(kubelet, thief, "warehouse", 9000, send=False).startswith("ERROR")
            # egress: before any Egress, pods' external calls pass through; an Egress applied through the
            # API server (OSM's CRD) lets the buyer reach its host only, and every other pod nothing
            assert calls(kubelet, thief, 2, "http://other.external.example:8080/") == {"EXTERNAL": 2}
            api.create(EGRESS)
            wait_until(
                lambda: calls(kubelet, thief, 1, "http://other.external.example:8080/") == {"403": 1},
                timeout=60,
                interval=1,
                what="egress policy in the pods",
            )
            assert calls(kubelet, buyer, 3, "http://api.external.example:8080/x") == {"EXTERNAL": 3}
            assert calls(kubelet, buyer, 2, "http://other.external.example:8080/") == {"403": 2}
            assert calls(kubelet, thief, 2, "http://api.external.example:8080/x") == {"403": 2}
            # no client bytes are awaited on a mesh TCP port: a server-first greeting still comes
            assert tcp_call(kubelet, buyer, "warehouse", 9000, send=False) == "WAREHOUSE ready"
            # the control plane away: pods keep serving with the config they hold
            controller.stop()
            seen = calls(kubelet, buyer, 20)
            assert sum(seen.get(k, 0) for k in both) == 20, seen
        finally:
            controller.stop()
