"""The controller's own webhooks: its serving certificate (from the mesh CA) is replaced every couple of
seconds here while objects are written in an older version (admission + conversion on every write):
no write fails; a refusal carries smimesh's code."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import httpx
from tests.kubernetes.kube_e2e import KubeWorld

from smimesh.testing.net import wait_until


def split(name: str, weight: int = 1) -> dict:
    return {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"service": "web", "backends": [{"service": "web-v1", "weight": weight}]},
    }


def test_serving_certificate_rotation_under_writes_fails_nothing(world: KubeWorld) -> None:
    replica = world.start_replica("replica-a", webhook_cert_lifetime=timedelta(seconds=4))
    wait_until(lambda: replica.call(lambda c: c.writes.bundle_updates >= 2), 30, what="caBundle")
    failures, written = [], 0
    path = "/apis/split.smi-spec.io/v1alpha2/namespaces/shop/trafficsplits"
    with httpx.Client(base_url=world.api.url, timeout=30) as client:
        deadline = time.monotonic() + 7
        for i in itertools.count():
            if time.monotonic() > deadline:
                break
            answer = client.post(path, json=split(f"s-{i}"))
            written += 1
            if answer.status_code != 201:
                failures.append(answer.text)
        refused = client.post(path, json=split("bad", weight=-1))
    assert failures == [] and written > 10
    assert replica.call(lambda c: c.webhooks.rotations) >= 2
    assert refused.status_code == 403 and "SM3030 spec.backends[0].weight" in refused.json()["message"]
