"""End-to-end: `smimesh controller` against the test API server, real Envoy sidecars on loopback
authenticating with tokens the API server issued; SMI objects applied through the API in older versions
(stored as the hub version) reach the sidecars; the request goes where the split says; a denied caller
gets 403."""

from __future__ import annotations

import time

import pytest
from tests.kubernetes.kube_e2e import KubeWorld, LoopbackPod, endpoint_slice, service

from smimesh.testing.net import wait_until

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

SPLIT = {
    "apiVersion": "split.smi-spec.io/v1alpha2",
    "kind": "TrafficSplit",
    "metadata": {"name": "web-split", "namespace": "shop"},
    "spec": {
        "service": "web",
        "backends": [{"service": "web-v1", "weight": 0}, {"service": "web-v2", "weight": 100}],
    },
}
ROUTES = {
    "apiVersion": "specs.smi-spec.io/v1alpha1",
    "kind": "HTTPRouteGroup",
    "metadata": {"name": "web-routes", "namespace": "shop"},
    "matches": [{"name": "all", "pathRegex": "/.*", "methods": ["GET"]}],
}
TARGET = {
    "apiVersion": "access.smi-spec.io/v1alpha1",
    "kind": "TrafficTarget",
    "metadata": {"name": "shopper-to-web", "namespace": "shop"},
    "destination": {"kind": "ServiceAccount", "name": "web", "namespace": "shop"},
    "sources": [{"kind": "ServiceAccount", "name": "shopper", "namespace": "shop"}],
    "specs": [{"kind": "HTTPRouteGroup", "name": "web-routes", "matches": ["all"]}],
}


def test_smi_applied_through_the_api_reaches_envoy_sidecars(world: KubeWorld) -> None:
    api = world.api
    replica = world.start_replica("replica-a")
    wait_until(
        lambda: replica.call(lambda c: c.ready() and c.writes.bundles_synced),
        30,
        what="caBundle filled in by the lease holder",
    )
    v1 = LoopbackPod("web-v1-0", "shop", "web", {"app": "web", "version": "v1"})
    v2 = LoopbackPod("web-v2-0", "shop", "web", {"app": "web", "version": "v2"})
    shopper = LoopbackPod("shopper-0", "shop", "shopper", {"app": "shopper"}, serves=False)
    thief = LoopbackPod("thief-0", "shop", "thief", {"app": "thief"}, serves=False)
    for obj in (
        service("web", "shop", {"app": "web"}),
        service("web-v1", "shop", {"app": "web", "version": "v1"}),
        service("web-v2", "shop", {"app": "web", "version": "v2"}),
    ):
        api.create(obj)
    for pod in (v1, v2, shopper, thief):
        world.add_pod(pod, replica)
    for name, members in (("web-1", [v1, v2]), ("web-v1-1", [v1]), ("web-v2-1", [v2])):
        api.create(endpoint_slice(name, "shop", name.rsplit("-", 1)[0], members))
    # Applied in older versions through the API (kubectl would do the same); stored as the hub.
    for obj in (ROUTES, TARGET, SPLIT):
        api.create(obj)
    stored = api.api.store.get(("trafficsplits.split.smi-spec.io", "shop", "web-split"))
    assert stored is not None and stored["apiVersion"] == "split.smi-spec.io/v1alpha4"

    def answered_by() -> str:
        status, body = world.request(shopper, "http://web.shop/")
        return body.get("pod", "") if status == 200 and isinstance(body, dict) else f"{status} {body}"

    try:
        # several answers in a row: before the split is in force the root serves both versions, so one
        # answer from web-v2 can come by chance
        wait_until(
            lambda: {answered_by() for _ in range(5)} == {"web-v2-0"},
            60,
            0.2,
            what="the split to send shopper to web-v2",
        )
        assert {answered_by() for _ in range(20)} == {"web-v2-0"}
        status, body = world.request(thief, "http://web.shop/")
        assert status == 403, (status, body)
        for pod in (v1, v2, shopper, thief):
            assert world.synced(replica, pod.node_id), pod.node_id
        assert replica.call(lambda c: c.authenticator.accepted) >= 4
        assert not replica.call(lambda c: list(c.authenticator.refusals))
    except (AssertionError, TimeoutError):
        print(world.logs())
        raise


def test_the_api_server_away_30_seconds_sidecars_keep_serving_and_catch_up(world: KubeWorld) -> None:
    api = world.api
    replica = world.start_replica("replica-a")
    wait_until(lambda: replica.call(lambda c: c.ready() and c.writes.bundles_synced), 30, what="caBundle")
    v1 = LoopbackPod("web-v1-0", "shop", "web", {"app": "web", "version": "v1"})
    v2 = LoopbackPod("web-v2-0", "shop", "web", {"app": "web", "version": "v2"})
    shopper = LoopbackPod("shopper-0", "shop", "shopper", {"app": "shopper"}, serves=False)
    for obj in (
        service("web", "shop", {"app": "web"}),
        service("web-v1", "shop", {"app": "web", "version": "v1"}),
        service("web-v2", "shop", {"app": "web", "version": "v2"}),
        ROUTES,
        TARGET,
        SPLIT,
    ):
        api.create(obj)
    for pod in (v1, v2, shopper):
        world.add_pod(pod, replica)

    def answered_by() -> str:
        status, body = world.request(shopper, "http://web.shop/")
        return body.get("pod", "") if status == 200 and isinstance(body, dict) else f"{status} {body}"

    wait_until(lambda: answered_by() == "web-v2-0", 60, 0.2, what="the split in force")
    api.down()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the API server is away: the sidecars keep their config
            assert answered_by() == "web-v2-0"
            time.sleep(1.0)
        # Changed while smimesh could not see it: the split now sends everything to v1.
        key = ("trafficsplits.split.smi-spec.io", "shop", "web-split")
        stored = api.api.store.get(key)
        assert stored is not None
        stored["spec"]["backends"] = [
            {"service": "web-v1", "weight": 100},
            {"service": "web-v2", "weight": 0},
        ]
        api.api.store.update(key, stored, None)
    finally:
        api.up()
    wait_until(lambda: answered_by() == "web-v1-0", 60, 0.2, what="catch-up after the API server came back")
    assert replica.call(lambda c: c.source.informers["TrafficSplit"].stats.errors) >= 1
