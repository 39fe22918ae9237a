"""The client commands against a cluster through the kubeconfig (`--kubeconfig`, `--context`, `-n`):
a real controller on the test API server, its API reached through the API server's service proxy, one
real Envoy sidecar. What a kubectl user sees: output and exit codes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.kubernetes.kube_e2e import KubeWorld, LoopbackPod, endpoint_slice, service
from tests.kubernetes.test_e2e_controller import ROUTES, SPLIT, TARGET

from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.net import wait_until

pytestmark = [pytest.mark.envoy, pytest.mark.slow]


def smimesh(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SMIMESH_API_ADDR", "SMIMESH_TOKEN")}
    argv = [sys.executable, "-m", "smimesh", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)


def _second_context(kubeconfig: Path) -> None:
    """The current context now names no context: only `--context test` reaches the cluster."""
    text = kubeconfig.read_text().replace("current-context: test", "current-context: nowhere")
    kubeconfig.write_text(text)


def _web_successes(kube: list[str]) -> int:
    shown = smimesh("stat", "deploy", "-n", "shop", "-o", "json", *kube)
    items = [i for i in json.loads(shown.stdout)["items"] if i["resource"]["name"] == "web"]
    values = [m["value"] for i in items for m in i["metrics"] if m["name"] == "success_count"]
    return sum(int(v) for v in values)


def _exports_the_split_applied_there(kube: list[str]) -> None:
    """`export` with --kubeconfig reads the controller's resources in force, as --from-mesh reads `up`'s."""
    exported = smimesh("export", "--to", "gateway-api", "-o", "json", *kube)
    assert exported.returncode == 0, exported.stderr
    route = json.loads(exported.stdout)
    assert (route["kind"], route["metadata"]["name"], route["metadata"]["namespace"]) == (
        "HTTPRoute",
        "web-80",
        "shop",
    )
    assert route["spec"]["parentRefs"][0]["name"] == "web"
    backends = [(b["name"], b["port"], b["weight"]) for r in route["spec"]["rules"] for b in r["backendRefs"]]
    assert backends == [("web-v2", 80, 100)], route
    assert "TrafficSplit/shop/web-split" in exported.stderr and "loss SM8101" in exported.stderr
    # The same --strict as for files: web-v1 (weight 0) has no Service in the cluster, a loss.
    strict = smimesh("export", "--to", "gateway-api", "--strict", *kube)
    assert strict.returncode == 1 and "error SM8101" in strict.stderr, strict.stderr
    both = smimesh("export", "--to", "gateway-api", "-f", "-", *kube)
    assert both.returncode == 2 and "one of them" in both.stderr, both.stderr


def _explains_live_through_portforward(kube: list[str], offline: str) -> None:
    """`explain --live` reads the destination pod's admin through pods/portforward: the same verdict
    as without --live, and the sidecar enforces the policy the controller's model says."""
    live = smimesh("explain", "--from", "shop/shopper", "--to", "web.shop", "--live", *kube)
    assert live.returncode == 0, live
    assert live.stdout.splitlines()[0] == offline.splitlines()[0], (live.stdout, offline)
    assert "live (the running destination sidecars):" in live.stdout, live.stdout
    assert "web-v2-0: enforces TrafficTarget/shop/shopper-to-web - matches the control plane" in live.stdout
    assert "RBAC counters: allowed=5\n" in live.stdout, live.stdout  # read through the port-forward too
    assert "requests under HTTPRouteGroup/shop/web-routes#all: 5\n" in live.stdout, live.stdout
    as_json = json.loads(
        smimesh("explain", "--from", "shop/shopper", "--to", "web.shop", "--live", "-o", "json", *kube).stdout
    )
    assert [(r["instance"], r["agrees"]) for r in as_json["live"]] == [("web-v2-0", True)], as_json


def _reads_sidecars_through_portforward(world: KubeWorld, kube: list[str], in_shop: Path) -> None:
    """`proxy-config POD` reads the pod's Envoy admin through the API server's pods/portforward (the
    admin stays on the pod's loopback); no private key is printed; refusals are clear errors."""
    clusters = smimesh("proxy-config", "shopper-0", "-n", "shop", "--type", "clusters", *kube)
    assert clusters.returncode == 0, clusters.stderr
    rows = [line.split() for line in clusters.stdout.splitlines()]
    assert ["cluster", "outbound|shop|web|80", "EDS", "active"] in rows, clusters.stdout
    # Without -n: the context's namespace, as kubectl.
    listeners = smimesh("proxy-config", "web-v2-0", "--type", "listeners", "--kubeconfig", str(in_shop))
    assert listeners.returncode == 0, listeners.stderr
    assert any(line.split()[:2] == ["listener", "inbound|http"] for line in listeners.stdout.splitlines())
    secrets = json.loads(
        smimesh("proxy-config", "web-v2-0", "-n", "shop", "--type", "secrets", "-o", "json", *kube).stdout
    )
    identity = next(
        s["secret"]
        for c in secrets["configs"]
        for s in c["dynamic_active_secrets"]
        if s["name"] == "identity:self"
    )
    assert base64.b64decode(identity["tls_certificate"]["private_key"]["inline_bytes"]) == b"[redacted]"
    everything = smimesh("proxy-config", "web-v2-0", "-n", "shop", "-o", "yaml", *kube)
    assert everything.returncode == 0 and "inbound|http" in everything.stdout, everything.stderr
    assert "PRIVATE KEY" not in everything.stdout and "Bearer" not in everything.stdout  # the pod's token
    missing = smimesh("proxy-config", "nope-0", "-n", "shop", *kube)
    assert missing.returncode == 1 and 'pods "nope-0" not found' in missing.stderr, missing
    assert "Traceback" not in missing.stderr
    world.api.restrict_user("alice-token", "alice", ["get pods"])
    alice = world.api.write_kubeconfig(world.directory / "alice", namespace="shop", token="alice-token")
    refused = smimesh("proxy-config", "web-v2-0", "--kubeconfig", str(alice))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused
    assert 'User "alice" cannot create resource "pods/portforward"' in refused.stderr, refused.stderr
    # explain --live still answers; the sidecar it cannot read is reported on its row.
    live = smimesh(
        "explain", "--from", "shop/shopper", "--to", "web.shop", "--live", "--kubeconfig", str(alice)
    )
    assert live.returncode == 0 and "ALLOWED" in live.stdout, live
    assert "web-v2-0: cannot read its sidecar" in live.stdout and "pods/portforward" in live.stdout, (
        live.stdout
    )


def test_client_commands_reach_the_controller_through_the_kubeconfig(world: KubeWorld) -> None:
    api = world.api
    replica = world.start_replica("replica-a", api_addr="127.0.0.1:0")
    wait_until(
        lambda: replica.call(lambda c: c.ready() and c.writes.bundles_synced),
        30,
        what="caBundle filled in by the lease holder",
    )
    api.route_proxy("smimesh-system", "smimesh-controller", "api", f"127.0.0.1:{replica.ctl.api.port}")
    web = LoopbackPod("web-v2-0", "shop", "web", {"app": "web", "version": "v2"})
    shopper = LoopbackPod("shopper-0", "shop", "shopper", {"app": "shopper"}, serves=False)
    for obj in (service("web", "shop", {"app": "web"}), service("web-v2", "shop", {"app": "web"})):
        api.create(obj)
    world.add_pod(web, replica)
    world.add_pod(shopper, replica)
    api.create(endpoint_slice("web-v2-1", "shop", "web-v2", [web]))
    for obj in (ROUTES, TARGET, SPLIT):
        api.create(obj)
    wait_until(lambda: world.synced(replica, web.node_id), 60, what="the sidecar synced")
    kube = ["--kubeconfig", str(world.kubeconfig)]

    got = smimesh("get", "ts", "-n", "shop", *kube)
    assert got.returncode == 0, got.stderr
    row = next(line.split() for line in got.stdout.splitlines() if "web-split" in line)
    assert row == ["TrafficSplit", "shop", "web-split", "kubernetes"], got.stdout
    one = smimesh("get", "trafficsplit", "web-split", "-n", "shop", "-o", "json", *kube)
    as_json = json.loads(one.stdout)
    assert as_json["spec"]["backends"][1] == {"service": "web-v2", "weight": 100}
    assert "No resources found" in smimesh("get", "ts", "-n", "elsewhere", *kube).stderr
    # As kubectl: without -n, the context's namespace (`default` here, `shop` in the second file); -A all.
    assert "No resources found" in smimesh("get", "ts", *kube).stderr
    assert "web-split" in smimesh("get", "ts", "-A", *kube).stdout
    in_shop = api.write_kubeconfig(world.directory / "shop-kubeconfig", namespace="shop")
    assert "web-split" in smimesh("get", "ts", "--kubeconfig", str(in_shop)).stdout

    _exports_the_split_applied_there(kube)

    proxies = smimesh("proxy-status", *kube)
    assert proxies.returncode == 0, proxies.stderr
    assert web.node_id in proxies.stdout and "SYNCED" in proxies.stdout

    status = smimesh("status", "-o", "json", *kube)
    assert status.returncode == 0, status.stderr
    body = json.loads(status.stdout)
    assert body["identity"] == "replica-a" and body["leader"] is True
    status = smimesh("status", *kube)
    assert "controller replica-a (leader, informers synced): 5 resources" in status.stdout, status
    assert [line.split()[:2] for line in status.stdout.splitlines() if "SYNCED" in line] == [
        ["shopper-0.shop", "SYNCED"],
        ["web-v2-0.shop", "SYNCED"],
    ]

    allowed = smimesh("explain", "--from", "shop/shopper", "--to", "web.shop", *kube)
    assert allowed.returncode == 0 and "ALLOWED" in allowed.stdout, allowed
    assert "shopper-to-web" in allowed.stdout
    unknown_caller = smimesh("explain", "--from", "shop/nobody", "--to", "web.shop", *kube)
    assert unknown_caller.returncode == 2 and "shop/shopper" in unknown_caller.stderr, unknown_caller

    for metrics in (["stat", "deploy", "-n", "shop"], ["top", "--once", "-n", "shop"]):
        shown = smimesh(*metrics, *kube)
        assert shown.returncode == 0 and "web" in shown.stdout, (metrics, shown)

    # What the replica's telemetry scraped from the sidecars, as `stat` shows it through the cluster.
    for _ in range(5):
        assert world.request(shopper, "http://web.shop/")[0] == 200
    wait_until(lambda: _web_successes(kube) == 5, 30, 1, what="5 requests to web counted by stat")
    _explains_live_through_portforward(kube, allowed.stdout)

    _reads_sidecars_through_portforward(world, kube, in_shop)

    # --context picks a context other than the current one; a missing one is a clear error.
    _second_context(world.kubeconfig)
    assert smimesh("get", "ts", "-n", "shop", *kube).returncode != 0
    picked = smimesh("get", "ts", "-n", "shop", *kube, "--context", "test")
    assert picked.returncode == 0 and "web-split" in picked.stdout, picked.stderr
    unknown = smimesh("get", "ts", *kube, "--context", "nope")
    assert unknown.returncode != 0 and "no context named 'nope'" in unknown.stderr


def test_without_a_controller_api_the_service_proxy_error_is_shown(world: KubeWorld) -> None:
    result = smimesh("status", "--kubeconfig", str(world.kubeconfig))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "no endpoints available" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_api_server_is_a_clear_error(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    for command in (["proxy-status"], ["export", "--to", "gateway-api"]):
        result = smimesh(*command, "--kubeconfig", str(kubeconfig))  # the server is gone
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "the API server does not answer" in result.stderr and "Traceback" not in result.stderr
