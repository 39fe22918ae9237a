"""Flagger's Canaries on the test API server, run by `smimesh controller` (runtime/kubernetes/canaries.py).

The test plays Kubernetes' Deployment controller: it writes a Deployment's `status.readyReplicas`
when the controller (or the user) asks for replicas. The Flagger examples are created unchanged (with
their Deployment `podinfo`); the analyses use short intervals and the `smimesh.io/on-no-data`
annotation (`pass`: the healthy canary advances without traffic; `fail`: every check fails, as
Flagger counts missing metrics), so no data plane is needed to observe the state machine.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from tests.kubernetes.kube_e2e import ControllerThread, KubeWorld
from tests.kubernetes.kube_world import meshed_namespace

from smimesh.testing.net import wait_until
from smimesh.testing.smi_data import upstream_dir

FLAGGER = upstream_dir("flagger")
NS = "test"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
CANARIES = f"/apis/flagger.app/v1beta1/namespaces/{NS}/canaries"


def deployment(image: str = "podinfo:6.0.0", replicas: int = 2) -> dict[str, Any]:
    labels = {"app": "podinfo"}
    container = {"name": "podinfod", "image": image, "ports": [{"name": "http", "containerPort": 9898}]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": NS, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }


def fast_canary(on_no_data: str, threshold: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {
            "name": "podinfo",
            "namespace": NS,
            "annotations": {"smimesh.io/on-no-data": on_no_data},
        },
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898, "targetPort": 9898},
            "analysis": {
                "interval": "1s",
                "threshold": threshold,
                "maxWeight": 30,
                "stepWeight": 10,
                "metrics": [
                    {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "1s"}
                ],
            },
        },
    }


class Cluster:
    """The API server as the test sees it, plus the Deployment controller's part: ready replicas."""

    def __init__(self, world: KubeWorld) -> None:
        self.api = world.api
        self.client = world.api.client()

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.client.get(path)
        return response.json() if response.status_code == 200 else None

    def settle_deployments(self) -> bool:
        """Every Deployment's readyReplicas := its replicas (what the kubelet and ReplicaSets would do)."""
        for item in self.client.get(DEPLOYMENTS).json()["items"]:
            replicas = item["spec"].get("replicas", 1)
            if (item.get("status") or {}).get("readyReplicas") != replicas:
                item["status"] = {"replicas": replicas, "readyReplicas": replicas}
                self.client.put(f"{DEPLOYMENTS}/{item['metadata']['name']}/status", json=item)
        return True

    def status(self) -> dict[str, Any]:
        found = self.get(f"{CANARIES}/podinfo")
        return (found or {}).get("status") or {}

    def weight(self) -> int | None:
        split = self.get(f"/apis/split.smi-spec.io/v1alpha4/namespaces/{NS}/trafficsplits/podinfo")
        if split is None:
            return None
        return {b["service"]: b["weight"] for b in split["spec"]["backends"]}["podinfo-canary"]

    def wait_phase(self, phase: str, seen: list[int] | None = None, timeout: float = 60) -> None:
        def reached() -> bool:
            self.settle_deployments()
            if seen is not None and (weight := self.weight()) is not None and weight not in seen:
                seen.append(weight)
            return self.status().get("phase") == phase

        wait_until(reached, timeout=timeout, interval=0.1, what=f"phase {phase}")

    def new_revision(self, image: str) -> None:
        found = self.get(f"{DEPLOYMENTS}/podinfo")
        assert found is not None
        found["spec"]["template"]["spec"]["containers"][0]["image"] = image
        self.client.put(f"{DEPLOYMENTS}/podinfo", json=found).raise_for_status()

    def events(self) -> list[dict[str, Any]]:
        items = self.client.get(f"/api/v1/namespaces/{NS}/events").json()["items"]
        return [e for e in items if e["involvedObject"].get("kind") == "Canary"]


@pytest.fixture
def cluster(world: KubeWorld) -> Iterator[Cluster]:
    meshed_namespace(world.api, NS)
    world.api.create(deployment())
    cluster = Cluster(world)
    with cluster.client:  # its connection closed with the test, not left to the garbage collector
        yield cluster


def leader(world: KubeWorld) -> ControllerThread:
    """A replica that leads and has written the webhooks' caBundle (else a TrafficSplit is refused)."""
    replica = world.start_replica("c1", lease_retry_s=0.2, writes_interval_s=0.2)
    wait_until(lambda: replica.ctl.writes.bundle_updates > 0, timeout=30, what="the replica leads")
    return replica


@pytest.mark.parametrize(
    "example", ["canary_linkerd-provider_webhooks.yaml", "canary_osm-provider_tutorial.yaml"]
)
def test_flagger_example_unchanged_is_initialized(world: KubeWorld, cluster: Cluster, example: str) -> None:
    canary = yaml.safe_load((FLAGGER / example).read_text())
    cluster.api.create(canary)
    leader(world)
    cluster.wait_phase("Initialized")
    primary = cluster.get(f"{DEPLOYMENTS}/podinfo-primary")
    assert primary is not None
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["template"]["spec"] == deployment()["spec"]["template"]["spec"]
    target = cluster.get(f"{DEPLOYMENTS}/podinfo")
    assert target is not None and target["spec"]["replicas"] == 0  # idle until a new revision
    port = canary["spec"]["service"]["port"]
    for name, selected in [
        ("podinfo", "podinfo-primary"),
        ("podinfo-primary", "podinfo-primary"),
        ("podinfo-canary", "podinfo"),
    ]:
        service = cluster.get(f"/api/v1/namespaces/{NS}/services/{name}")
        assert service is not None, name
        assert service["spec"]["selector"] == {"app": selected}
        assert service["spec"]["ports"][0]["port"] == port
    assert cluster.weight() == 0
    status = cluster.status()
    assert status["canaryWeight"] == 0 and status["failedChecks"] == 0
    assert status["conditions"][0]["type"] == "Promoted"
    assert any("Initialization done" in e["message"] for e in cluster.events())


def test_healthy_canary_steps_and_succeeds(world: KubeWorld, cluster: Cluster) -> None:
    cluster.api.create(fast_canary("pass"))
    leader(world)
    cluster.wait_phase("Initialized")
    cluster.new_revision("podinfo:6.0.1")
    cluster.wait_phase("Progressing")
    seen: list[int] = []
    cluster.wait_phase("Succeeded", seen)
    # every step written, in order; then the canary serves all while the primary restarts (Promoting)
    assert [w for w in seen if w] == [10, 20, 30, 100], seen
    primary = cluster.get(f"{DEPLOYMENTS}/podinfo-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.0.1"
    assert cluster.weight() == 0
    target = cluster.get(f"{DEPLOYMENTS}/podinfo")
    assert target is not None and target["spec"]["replicas"] == 0
    assert cluster.status()["conditions"][0]["status"] == "True"
    messages = [e["message"] for e in cluster.events()]
    assert any("New revision detected" in m for m in messages), messages


def test_failing_canary_rolls_back_after_threshold(world: KubeWorld, cluster: Cluster) -> None:
    cluster.api.create(fast_canary("fail", threshold=2))
    leader(world)
    cluster.wait_phase("Initialized")
    cluster.new_revision("podinfo:6.0.2-broken")
    cluster.wait_phase("Failed")
    status = cluster.status()
    assert status["failedChecks"] == 2 and status["canaryWeight"] == 0
    primary = cluster.get(f"{DEPLOYMENTS}/podinfo-primary")
    assert primary is not None  # still the promoted revision
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.0.0"
    target = cluster.get(f"{DEPLOYMENTS}/podinfo")
    assert target is not None and target["spec"]["replicas"] == 0
    assert any(e["type"] == "Warning" for e in cluster.events())


def test_only_the_lease_holder_writes(world: KubeWorld, cluster: Cluster) -> None:
    cluster.api.create(copy.deepcopy(fast_canary("pass")))
    first = leader(world)
    second = world.start_replica("c2", lease_retry_s=0.2)
    cluster.wait_phase("Initialized")
    assert second.call(lambda c: c.canaries.statuses_written) == 0
    assert first.call(lambda c: c.canaries.statuses_written) > 0


def test_a_new_lease_holder_continues_the_analysis(world: KubeWorld, cluster: Cluster) -> None:
    """The leader goes away mid-rollout: the other replica resumes from the Canary's status and the
    primary's pod template (no re-initialization, no weight back to 0), and promotes."""
    canary = fast_canary("pass")
    canary["spec"]["analysis"] |= {"interval": "2s", "maxWeight": 50}
    cluster.api.create(canary)
    first = leader(world)
    second = world.start_replica("c2", lease_retry_s=0.2, lease_duration_s=2.0)
    cluster.wait_phase("Initialized")
    cluster.new_revision("podinfo:6.0.1")
    wait_until(
        lambda: cluster.settle_deployments() and cluster.status().get("canaryWeight", 0) >= 20, timeout=60
    )
    first.stop()  # releases the Lease
    world.route_webhooks(second)  # the webhook Service's endpoint moves with the pods
    phases: list[str] = []
    weights: list[int] = []

    def done() -> bool:
        cluster.settle_deployments()
        status = cluster.status()
        phases.append(status["phase"])
        weights.append(status["canaryWeight"])
        return status["phase"] == "Succeeded"

    wait_until(done, timeout=90, interval=0.1, what="promoted by the new leader")
    assert second.call(lambda c: c.elector.is_leader)
    assert "Initializing" not in phases and "Initialized" not in phases, phases
    analysed = weights[: phases.index("Promoting")] if "Promoting" in phases else weights
    assert min(analysed) >= 20 and 50 in weights, weights  # continued upwards, never reset
    primary = cluster.get(f"{DEPLOYMENTS}/podinfo-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.0.1"


def test_deleting_the_canary_reverts_to_the_target(world: KubeWorld, cluster: Cluster) -> None:
    cluster.api.create(fast_canary("pass"))
    leader(world)
    cluster.wait_phase("Initialized")
    cluster.client.delete(f"{CANARIES}/podinfo").raise_for_status()

    def reverted() -> bool:
        target = cluster.get(f"{DEPLOYMENTS}/podinfo")
        gone = [
            cluster.get(f"{DEPLOYMENTS}/podinfo-primary"),
            cluster.get(f"/api/v1/namespaces/{NS}/services/podinfo"),
        ]
        return target is not None and target["spec"]["replicas"] == 2 and gone == [None, None]

    wait_until(reverted, timeout=30, what="the primary and Services deleted, the target scaled back")
    assert cluster.weight() is None
