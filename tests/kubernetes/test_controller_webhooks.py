"""The controller's own webhooks: its serving certificate (from the mesh CA) is replaced every couple of
seconds here while objects are written in an older version (admission + conversion on every write):
no write fails; a refusal carries smimesh's code."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import httpx
from tests.kubernetes.kube_e2e import SERVICE, KubeWorld

from smimesh.api.webhooks.config import WEBHOOK_CONFIG_NAME as VALIDATING
from smimesh.api.webhooks.inject_config import CONFIG_NAME as INJECTOR
from smimesh.api.webhooks.inject_config import mutating_webhook
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
    wait_until(lambda: replica.call(lambda c: c.writes.bundles_synced), 30, what="caBundle")
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


def test_the_lease_holder_keeps_the_injector_ca_bundle_current(world: KubeWorld) -> None:
    """The sidecar injector's webhook is served by the same certificate as the validating one, so the
    lease holder fills in and keeps its caBundle too (for a mesh no namespace is labelled for: it injects
    nothing here)."""
    world.api.create(mutating_webhook(b"", SERVICE, mesh="no-namespace-has-this-mesh"))
    replica = world.start_replica("replica-a")
    wait_until(lambda: replica.call(lambda c: c.writes.bundles_synced), 30, what="caBundles")

    def bundles(path: str) -> set[str]:
        with world.api.client() as client:
            hooks = client.get(path).raise_for_status().json()["webhooks"]
        return {hook["clientConfig"]["caBundle"] for hook in hooks}

    group = "/apis/admissionregistration.k8s.io/v1"
    validating = bundles(f"{group}/validatingwebhookconfigurations/{VALIDATING}")
    injector = bundles(f"{group}/mutatingwebhookconfigurations/{INJECTOR}")
    assert injector == validating and injector != {""}
