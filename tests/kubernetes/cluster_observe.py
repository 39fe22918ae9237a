"""A small observed world on the test API server: a controller serving its API (reached through the
API server's service proxy) and real Envoy sidecars whose request logs go to the controller over gRPC.

`observed_world(world, audit=...)`: namespace `shop` with web-v1 and web-v2 (sa web) behind `web`
split 50/50, a caller `shopper` allowed to reach them (unless the namespace is in audit mode, where
no TrafficTarget exists and every call is logged) and `Stream`, a streaming `smimesh` command.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tests.kubernetes.kube_e2e import ControllerThread, KubeWorld, LoopbackPod, endpoint_slice, service
from tests.kubernetes.kube_world import meshed_namespace
from tests.kubernetes.test_e2e_controller import ROUTES, TARGET
from tests.kubernetes.test_e2e_controller import SPLIT as CONTROLLER_SPLIT

from smimesh.sources.kubernetes.cluster import AUDIT_LABEL
from smimesh.testing.command_stream import CommandStream
from smimesh.testing.net import wait_until

SPLIT = copy.deepcopy(CONTROLLER_SPLIT)
SPLIT["spec"]["backends"] = [{"service": "web-v1", "weight": 50}, {"service": "web-v2", "weight": 50}]
T = TypeVar("T")
WEB_ID = "spiffe://cluster.local/ns/shop/sa/web"
SHOPPER_ID = "spiffe://cluster.local/ns/shop/sa/shopper"


@dataclass
class Observed:
    replica: ControllerThread
    v1: LoopbackPod
    v2: LoopbackPod
    shopper: LoopbackPod

    @property
    def pods(self) -> list[LoopbackPod]:
        return [self.v1, self.v2, self.shopper]


def observed_world(world: KubeWorld, *, audit: bool = False) -> Observed:
    api = world.api
    if audit:
        with api.client() as client:
            patch = {"metadata": {"labels": {AUDIT_LABEL: "true"}}}
            headers = {"content-type": "application/merge-patch+json"}
            client.patch("/api/v1/namespaces/shop", json=patch, headers=headers).raise_for_status()
    else:
        meshed_namespace(api, "shop")
    replica = world.start_replica("replica-a", api_addr="127.0.0.1:0")
    wait_until(
        lambda: replica.call(lambda c: c.ready() and c.writes.bundle_updates >= 2),
        30,
        what="caBundle filled in by the lease holder",
    )
    api.route_proxy("smimesh-system", "smimesh-controller", "api", f"127.0.0.1:{replica.ctl.api.port}")
    v1 = LoopbackPod("web-v1-0", "shop", "web", {"app": "web", "version": "v1"})
    v2 = LoopbackPod("web-v2-0", "shop", "web", {"app": "web", "version": "v2"})
    shopper = LoopbackPod("shopper-0", "shop", "shopper", {"app": "shopper"}, serves=False)
    for obj in (
        service("web", "shop", {"app": "web"}),
        service("web-v1", "shop", {"app": "web", "version": "v1"}),
        service("web-v2", "shop", {"app": "web", "version": "v2"}),
    ):
        api.create(obj)
    for pod in (v1, v2, shopper):
        world.add_pod(pod, replica)
    for name, members in (("web-1", [v1, v2]), ("web-v1-1", [v1]), ("web-v2-1", [v2])):
        api.create(endpoint_slice(name, "shop", name.rsplit("-", 1)[0], members))
    for obj in (ROUTES, SPLIT) if audit else (ROUTES, TARGET, SPLIT):
        api.create(obj)
    observed = Observed(replica, v1, v2, shopper)
    for pod in observed.pods:
        wait_until(lambda p=pod: world.synced(replica, p.node_id), 60, what=f"{pod.name} synced")
    wait_until(lambda: send(world, observed, "/warmup")[1] == 200, 60, 0.2, what="web reachable")
    return observed


def send(world: KubeWorld, observed: Observed, path: str) -> tuple[str, int, str]:
    """(path, status, pod that answered) of one GET from shopper to web."""
    status, body = world.request(observed.shopper, f"http://web.shop{path}")
    return path, status, body.get("pod", "") if isinstance(body, dict) else ""


def eventually(condition: Callable[[], T | None], timeout: float, what: str) -> T:
    """The first non-None value of `condition()`, polled until `timeout` s have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def tap_runtime(pod: LoopbackPod) -> str:
    """`smimesh.tap` as the pod's Envoy has it ("" when no layer sets it)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{pod.admin_port}/runtime", timeout=5) as answer:
        entries = json.loads(answer.read())["entries"]
    return str(entries.get("smimesh.tap", {}).get("final_value", ""))


def smimesh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SMIMESH_API_ADDR", "SMIMESH_TOKEN")}
    argv = [sys.executable, "-m", "smimesh", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)


class Stream(CommandStream):
    """A streaming `smimesh` command (tap, dashboard), its output collected as it comes."""

    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("SMIMESH_API_ADDR", "SMIMESH_TOKEN")}
        super().__init__([sys.executable, "-m", "smimesh", *args], {**env, "PYTHONUNBUFFERED": "1"})
