"""The lease holder's Events, as client-go's recorder keeps them: a lasting problem is one Event whose
`count` and `lastTimestamp` grow (never a pile of Events), a new leader carries on the same Event,
and once the problem is fixed its Event is deleted, as `kubectl get events` shows."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from tests.kubernetes.kube_e2e import ControllerThread, KubeWorld, service
from tests.kubernetes.kube_world import kubectl
from tests.kubernetes.test_ha import DANGLING

from smimesh.testing.net import wait_until

FAST = {
    "lease_duration_s": 3.0,
    "renew_deadline_s": 2.0,
    "lease_retry_s": 0.3,
    "writes_interval_s": 0.2,
    "event_refresh_s": 0.6,
}


def split_events(world: KubeWorld, reason: str | None = "SM4005") -> list[dict[str, Any]]:
    """The Events about DANGLING (with `reason`; any reason if None)."""
    with world.api.client() as client:
        items = client.get("/api/v1/namespaces/shop/events").json()["items"]
    about = [e for e in items if e["involvedObject"]["name"] == "dangling"]
    return [e for e in about if reason is None or e["reason"] == reason]


def count_of(world: KubeWorld) -> int:
    found = split_events(world)
    assert len(found) <= 1, found  # never a second Event for the same problem
    return found[0]["count"] if found else 0


def leading(replica: ControllerThread) -> bool:
    return bool(replica.call(lambda c: c.elector.is_leader))


def create_split(world: KubeWorld) -> None:
    """Create DANGLING once the lease holder has put the CA in the CRDs (conversion needs it)."""

    def created() -> bool:
        with world.api.client() as client:
            return client.post(
                "/apis/split.smi-spec.io/v1alpha4/namespaces/shop/trafficsplits", json=DANGLING
            ).is_success

    wait_until(created, 30, 0.2, what="the split created through the conversion webhook")


def leader_with_a_problem(world: KubeWorld, counted: int) -> ControllerThread:
    """A leading replica, and DANGLING's problem reported and counted `counted` times."""
    replica = world.start_replica("replica-a", **FAST)
    wait_until(lambda: leading(replica), 20, what="a leader")
    world.api.create(service("other", "shop", {"app": "other"}))
    create_split(world)
    wait_until(lambda: count_of(world) >= counted, 30, 0.1, what=f"the Event counted {counted} times")
    return replica


def test_a_lasting_problem_is_one_event_counted_then_deleted_when_fixed(world: KubeWorld) -> None:
    first = leader_with_a_problem(world, 4)
    (event,) = split_events(world)
    assert event["lastTimestamp"] > event["firstTimestamp"]  # 3 bumps, >= 1.8 s apart from the first
    assert event["type"] == "Warning" and event["involvedObject"]["kind"] == "TrafficSplit"

    # Another replica takes over (the first hands the Lease over): the same Event goes on counting.
    second = world.start_replica("replica-b", **FAST)
    counted = count_of(world)
    first.stop()
    wait_until(lambda: leading(second), 20, what="the second replica leading")
    wait_until(lambda: count_of(world) >= counted + 2, 30, 0.1, what="the new leader bumping the count")
    assert second.call(lambda c: c.writes.events_created) == 0

    # The problems are fixed (the backend's Service appears: SM4005, and SM4007 "no backend with a
    # weight" with it): their Events go.
    problems = {e["reason"] for e in split_events(world, None)}
    assert problems == {"SM4005", "SM4007"}
    world.api.create(service("nowhere", "shop", {"app": "nowhere"}))
    wait_until(
        lambda: not split_events(world, None), 30, 0.1, what="the Events of the fixed problems deleted"
    )
    assert second.call(lambda c: c.writes.events_deleted) == len(problems)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_events_shows_the_count_and_then_no_stale_event(world: KubeWorld) -> None:
    leader_with_a_problem(world, 3)
    columns = "custom-columns=REASON:.reason,OBJECT:.involvedObject.name,COUNT:.count"
    shown = kubectl(world.kubeconfig, "get", "events", "-n", "shop", "-o", columns)
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    (row,) = [r for r in rows if r[:2] == ["SM4005", "dangling"]]
    assert int(row[2]) >= 3

    kubectl(world.kubeconfig, "delete", "trafficsplit", "dangling", "-n", "shop")
    wait_until(lambda: not split_events(world, None), 30, 0.1, what="the Events of the deleted split deleted")
    after = kubectl(world.kubeconfig, "get", "events", "-n", "shop", "-o", columns)
    assert after.returncode == 0, after.stderr
    assert "SM4005" not in after.stdout
