"""`PodInstances`, the per-changed-pod instances, always equals `cluster.instances` over the whole
state (random chains of pod, EndpointSlice and Namespace changes), and leaves an unchanged pod's
instance the very same object."""

from __future__ import annotations

import random
from typing import Any

import pytest

from smimesh.sources.kubernetes import cluster
from smimesh.sources.kubernetes.pod_instances import PodInstances

NAMESPACES = ("a", "b", "c")
PODS = 12


def _namespace(name: str, meshed: bool) -> dict[str, Any]:
    labels = {cluster.MONITORED: "smimesh"} if meshed else {}
    return {"metadata": {"name": name, "labels": labels}}


def _pod(rng: random.Random, ns: str, name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": {"app": f"app{rng.randrange(3)}"}},
        "spec": {"serviceAccountName": "sa", "containers": [{"ports": [{"containerPort": 8080}]}]},
        "status": {
            "phase": rng.choice(["Running", "Running", "Running", "Pending"]),
            "podIP": f"10.0.0.{rng.randrange(250)}",
            "conditions": [{"type": "Ready", "status": rng.choice(["True", "False"])}],
        },
    }


def _slice(rng: random.Random, ns: str, name: str, pods: list[tuple[str, str]]) -> dict[str, Any]:
    listed = rng.sample(pods, k=min(len(pods), rng.randrange(4)))
    endpoints = [
        {
            "addresses": [f"10.1.0.{i}"] * rng.choice([1, 2]),
            "conditions": rng.choice([{"ready": True}, {"ready": False}, {}]),
            "targetRef": {"kind": "Pod", "name": name_, "namespace": pod_ns},
        }
        for i, (pod_ns, name_) in enumerate(listed)
    ]
    return {
        "metadata": {"name": name, "namespace": ns, "labels": {cluster.SERVICE_NAME: name}},
        "endpoints": endpoints,
    }


class World:
    """The three informer caches, changed at random; `incremental` is told of each change."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.namespaces = {n: _namespace(n, n != "c") for n in NAMESPACES}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.slices: dict[tuple[str, str], dict[str, Any]] = {}
        self.incremental = PodInstances("smimesh")

    def step(self) -> None:
        rng, choice = self.rng, self.rng.randrange(10)
        keys = [(ns, f"p{i}") for ns in NAMESPACES for i in range(PODS)]
        if choice < 4:
            key = rng.choice(keys)
            if key in self.pods and rng.random() < 0.3:
                del self.pods[key]
            else:
                self.pods[key] = _pod(rng, *key)
            self.incremental.pod_changed(key)
        elif choice < 9:
            key = (rng.choice(NAMESPACES), f"s{rng.randrange(4)}")
            if key in self.slices and rng.random() < 0.3:
                del self.slices[key]
                self.incremental.slice_changed(key, None)
            else:
                self.slices[key] = _slice(rng, *key, keys)
                self.incremental.slice_changed(key, self.slices[key])
        else:
            name = rng.choice(NAMESPACES)
            self.namespaces[name] = _namespace(name, rng.random() < 0.7)
            self.incremental.namespaces_changed()

    def cold(self) -> list[Any]:
        return cluster.instances(
            self.pods.values(), self.slices.values(), self.namespaces.values(), "smimesh"
        )

    def warm(self) -> list[Any]:
        return self.incremental.current(self.pods, self.namespaces.values())


@pytest.mark.parametrize("seed", range(8))
def test_incremental_instances_equal_the_whole_state_s(seed: int) -> None:
    world = World(random.Random(seed))
    for step in range(300):
        world.step()
        if world.rng.random() < 0.5:  # several changes may come between two publishes
            assert world.warm() == world.cold(), step


def test_a_slice_change_keeps_the_other_pods_instances_as_they_were() -> None:
    world = World(random.Random(1))
    for ns in NAMESPACES[:2]:
        for i in range(PODS):
            world.pods[ns, f"p{i}"] = _pod(world.rng, ns, f"p{i}")
    before = {i.node_id: i for i in world.warm()}
    key = ("a", "s0")
    world.slices[key] = _slice(world.rng, "a", "s0", [("a", "p1")])
    world.incremental.slice_changed(key, world.slices[key])
    after = world.warm()
    assert after == world.cold()
    untouched = [i for i in after if i.name != "p1" or i.namespace != "a"]
    assert untouched and all(before[i.node_id] is i for i in untouched)
