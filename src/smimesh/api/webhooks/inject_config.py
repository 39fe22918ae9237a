"""The MutatingWebhookConfiguration that sends pod creations to the injector (`/mutate`).

Two webhooks, because the API server chooses webhooks by labels only: one for every pod of a namespace
labelled `smimesh.io/monitored-by: <mesh>` (unless the pod is labelled `smimesh.io/inject: disabled`),
one for pods labelled `smimesh.io/inject: enabled` in other namespaces. Both skip the control plane's
pods (label `smimesh.io/control-plane`) and `kube-system` and the control plane's namespace.

`failurePolicy` defaults to **Fail**: a pod created while no injector answers would otherwise start
without its sidecar, and in a mesh that is strict by default such a pod can neither reach nor be reached
by meshed pods, and its own outbound traffic escapes policy — a silent, partial outage is worse than a
refused create the ReplicaSet controller retries. The scope above keeps the blast radius to meshed
workloads, and running several control-plane replicas (`install --ha`) keeps the injector available.
`Ignore` (Linkerd's default) favours availability over that guarantee; choose it with
`failure_policy="Ignore"`.
"""

from __future__ import annotations

from typing import Any

from smimesh.api.webhooks.config import MONITORED_LABEL, encode_bundle
from smimesh.pods import layout as lay
from smimesh.resources import crd

CONFIG_NAME = "smimesh-injector"
FAILURE_POLICIES = ("Fail", "Ignore")


def mutating_webhook(
    ca_bundle_pem: bytes,
    service: crd.WebhookService,
    *,
    mesh: str = "smimesh",
    failure_policy: str = "Fail",
    path: str = "/mutate",
) -> dict[str, Any]:
    if failure_policy not in FAILURE_POLICIES:
        raise ValueError(f"failurePolicy must be one of {FAILURE_POLICIES}, not {failure_policy!r}")
    client = {
        "caBundle": encode_bundle(ca_bundle_pem),
        "service": {"name": service.name, "namespace": service.namespace, "path": path, "port": service.port},
    }
    system = {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", service.namespace],
    }
    not_control_plane = {"key": lay.CONTROL_PLANE_LABEL, "operator": "DoesNotExist"}

    def webhook(name: str, namespaces: list[dict[str, Any]], pods: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": name,
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": failure_policy,
            "reinvocationPolicy": "Never",
            "timeoutSeconds": 10,
            "matchPolicy": "Equivalent",
            "clientConfig": client,
            "namespaceSelector": {"matchExpressions": [system, *namespaces]},
            "objectSelector": {"matchExpressions": [not_control_plane, *pods]},
            "rules": [
                {
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "resources": ["pods"],
                    "operations": ["CREATE"],
                    "scope": "Namespaced",
                }
            ],
        }

    meshed = {"key": MONITORED_LABEL, "operator": "In", "values": [mesh]}
    unmeshed = {"key": MONITORED_LABEL, "operator": "NotIn", "values": [mesh]}
    opted_out = {"key": lay.INJECT_ANNOTATION, "operator": "NotIn", "values": ["disabled"]}
    opted_in = {"key": lay.INJECT_ANNOTATION, "operator": "In", "values": ["enabled"]}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CONFIG_NAME, "labels": {"app.kubernetes.io/part-of": "smimesh"}},
        "webhooks": [
            webhook("namespace.inject.smimesh.io", [meshed], [opted_out]),
            webhook("pod.inject.smimesh.io", [unmeshed], [opted_in]),
        ],
    }
