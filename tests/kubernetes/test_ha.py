"""High availability: three replicas, one Lease holder writes; kill the leader: a new one within the
lease duration, no Event written twice, and a sidecar moved to another replica gets identical config:
every resource type, SDS secrets (certificate and key) included, and the same certificate in Envoy."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest
from tests.kubernetes.kube_e2e import ControllerThread, KubeWorld, LoopbackPod, endpoint_slice, service
from tests.kubernetes.test_e2e_controller import ROUTES, TARGET

from smimesh.testing.net import wait_until
from smimesh.xds import type_urls as T

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

LEASE_S, RETRY_S = 4.0, 0.5
CONFIG_TYPES = (T.SECRET, T.LISTENER, T.ROUTE, T.CLUSTER, T.ENDPOINT)
SPLIT = {
    "apiVersion": "split.smi-spec.io/v1alpha4",
    "kind": "TrafficSplit",
    "metadata": {"name": "web-split", "namespace": "shop"},
    "spec": {"service": "web", "backends": [{"service": "web-v2", "weight": 100}]},
}
DANGLING = {
    "apiVersion": "split.smi-spec.io/v1alpha4",
    "kind": "TrafficSplit",
    "metadata": {"name": "dangling", "namespace": "shop"},
    "spec": {"service": "other", "backends": [{"service": "nowhere", "weight": 1}]},
}


class LeaderWatch:
    """Samples every replica's `is_leader` every 20 ms: never two at once, and when leadership moved."""

    def __init__(self, replicas: list[ControllerThread]) -> None:
        self.replicas, self.overlaps, self.samples = replicas, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            leaders = [
                r.config.identity
                for r in self.replicas
                if r.controller and r._thread.is_alive() and r.ctl.elector.is_leader
            ]
            self.overlaps += len(leaders) > 1
            self.samples.append((time.monotonic(), leaders))
            time.sleep(0.02)

    def __enter__(self) -> LeaderWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def leader(replicas: list[ControllerThread]) -> ControllerThread | None:
    found = [r for r in replicas if r._thread.is_alive() and r.call(lambda c: c.elector.is_leader)]
    assert len(found) <= 1
    return found[0] if found else None


def config_of(replica: ControllerThread, node: str) -> dict[str, object]:
    """What the replica serves `node`: every type's version, and name -> serialized resource for every
    type the snapshot carries (SDS, LDS, RDS, CDS, EDS at least)."""

    def read(c):  # type: ignore[no-untyped-def]
        snapshot = c.xds.cache.get_snapshot(node)
        assert set(CONFIG_TYPES) <= set(snapshot.type_urls()), snapshot.type_urls()
        return {
            "versions": dict(snapshot.versions),
            **{
                t: {
                    n: e.resource.SerializeToString(deterministic=True)
                    for n, e in snapshot.entries(t).items()
                }
                for t in snapshot.type_urls()
            },
        }

    return replica.call(read)


def envoy_certificates(admin_port: int) -> list[tuple[str, str]]:
    """The (serial, SPIFFE id) of every certificate the sidecar's Envoy holds (its admin `/certs`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/certs", timeout=5) as response:
        found = json.loads(response.read())
    return sorted(
        (cert["serial_number"], ",".join(s.get("uri", "") for s in cert.get("subject_alt_names") or []))
        for entry in found.get("certificates") or []
        for cert in entry.get("cert_chain") or []
    )


def smimesh_events(world: KubeWorld) -> list[dict]:
    with world.api.client() as client:
        return client.get("/api/v1/namespaces/shop/events").json()["items"]


def test_three_replicas_kill_the_leader(world: KubeWorld) -> None:
    api = world.api
    options = {
        "lease_duration_s": LEASE_S,
        "renew_deadline_s": 3.0,
        "lease_retry_s": RETRY_S,
        "writes_interval_s": 0.3,
    }
    replicas = [world.start_replica(name, **options) for name in ("replica-a", "replica-b", "replica-c")]
    with LeaderWatch(replicas) as watch:
        wait_until(lambda: leader(replicas) is not None, 20, what="a leader")
        first = leader(replicas)
        assert first is not None
        for obj in (
            service("web", "shop", {"app": "web"}),
            service("web-v2", "shop", {"app": "web", "version": "v2"}),
            service("other", "shop", {"app": "other"}),  # the root of the dangling split
        ):
            api.create(obj)
        v2 = LoopbackPod("web-v2-0", "shop", "web", {"app": "web", "version": "v2"})
        shopper = LoopbackPod("shopper-0", "shop", "shopper", {"app": "shopper"}, serves=False)
        for pod in (v2, shopper):
            world.add_pod(pod, first)
        api.create(endpoint_slice("web-1", "shop", "web", [v2]))
        for obj in (SPLIT, ROUTES, TARGET):
            api.create(obj)
        api.create(DANGLING)  # a diagnostic (SM4005): the leader reports it as an Event, once
        wait_until(lambda: any(e["reason"] == "SM4005" for e in smimesh_events(world)), 20, what="the Event")
        wait_until(lambda: world.synced(first, shopper.node_id) and world.synced(first, v2.node_id), 30)
        wait_until(lambda: world.request(shopper, "http://web.shop/")[0] == 200, 30, 0.2, what="traffic")
        before = config_of(first, shopper.node_id)
        assert before[T.SECRET], "the sidecar has SDS secrets"
        certificates = envoy_certificates(shopper.admin_port)
        assert certificates, "Envoy holds the sidecar's certificate"

        first.call(lambda c: setattr(c.elector, "release_on_stop", False))  # a crash: no hand-over
        killed_at = time.monotonic()
        first.stop()
        world.route_webhooks(next(r for r in replicas if r is not first))
        survivors = [r for r in replicas if r is not first]
        wait_until(lambda: leader(survivors) is not None, LEASE_S * 3, 0.05, what="a new leader")
        took = time.monotonic() - killed_at
        second = leader(survivors)
        assert second is not None

        # The sidecars reconnect to another replica and get the same config, byte for byte.
        other = next(r for r in survivors if r is not second)
        for pod in (v2, shopper):
            world.move_sidecar(pod, other)
        wait_until(lambda: world.synced(other, shopper.node_id) and world.synced(other, v2.node_id), 30)
        assert config_of(other, shopper.node_id) == before
        assert config_of(second, shopper.node_id) == before
        assert envoy_certificates(shopper.admin_port) == certificates  # the same leaf, not a new one
        wait_until(
            lambda: world.request(shopper, "http://web.shop/")[0] == 200, 30, 0.2, what="traffic again"
        )
        status, body = world.request(shopper, "http://web.shop/")
        assert status == 200 and body["pod"] == "web-v2-0"

        # The new leader writes what is new, and nothing twice.
        api.create(dict(DANGLING, metadata={"name": "dangling-2", "namespace": "shop"}))
        wait_until(
            lambda: (
                sum(
                    e["involvedObject"]["name"] == "dangling-2" and e["reason"] == "SM4005"
                    for e in smimesh_events(world)
                )
                == 1
            ),
            20,
        )
        time.sleep(1.0)  # several write rounds of the new leader
    events = smimesh_events(world)
    keys = [(e["involvedObject"]["name"], e["reason"], e["message"]) for e in events]
    assert len(keys) == len(set(keys)), keys
    writers = {e["reportingInstance"] for e in events}
    assert writers <= {first.config.identity, second.config.identity}
    assert watch.overlaps == 0
    assert took <= LEASE_S + 2 * RETRY_S + 1.0, f"new leader after {took:.1f}s"
    print(f"new leader {second.config.identity} {took:.2f}s after the leader was killed (lease {LEASE_S}s)")
