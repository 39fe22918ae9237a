"""The Kubernetes objects that point the API server at the webhooks, and keeping their caBundle current.

`validating_webhook(ca_bundle_pem, service)` is the ValidatingWebhookConfiguration `smimesh install`
prints (SMI groups, CREATE and UPDATE, only in namespaces labelled `smimesh.io/monitored-by`, failure
policy Fail); `crds_with_bundle(ca_bundle_pem, service)` the SMI CRDs with the conversion webhook's
caBundle. `bundle_patches(ca_bundle_pem)` are the JSON merge patches the lease holder applies when the
mesh CA (so the bundle) changes.
"""

from __future__ import annotations

import base64
from typing import Any

from smimesh.resources import crd, registry

WEBHOOK_CONFIG_NAME = "smimesh-validation"
WEBHOOK_NAME = "validate.smimesh.io"
MONITORED_LABEL = "smimesh.io/monitored-by"


def encode_bundle(ca_bundle_pem: bytes) -> str:
    return base64.b64encode(ca_bundle_pem).decode()


def smi_groups() -> list[str]:
    return sorted({registry.KINDS[kind].group for kind in crd.smi_kinds()})


def smi_plurals() -> list[str]:
    return sorted(registry.KINDS[kind].plural for kind in crd.smi_kinds())


def validating_webhook(
    ca_bundle_pem: bytes, service: crd.WebhookService, mesh: str = "smimesh", validate_path: str = "/validate"
) -> dict[str, Any]:
    client = {
        "caBundle": encode_bundle(ca_bundle_pem),
        "service": {
            "name": service.name,
            "namespace": service.namespace,
            "path": validate_path,
            "port": service.port,
        },
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_CONFIG_NAME, "labels": {"app.kubernetes.io/part-of": "smimesh"}},
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "timeoutSeconds": 10,
                "matchPolicy": "Equivalent",
                "clientConfig": client,
                "namespaceSelector": {"matchLabels": {MONITORED_LABEL: mesh}},
                "rules": [
                    {
                        "apiGroups": smi_groups(),
                        "apiVersions": ["*"],
                        "resources": smi_plurals(),
                        "operations": ["CREATE", "UPDATE"],
                        "scope": "Namespaced",
                    }
                ],
            }
        ],
    }


def crds_with_bundle(ca_bundle_pem: bytes, service: crd.WebhookService) -> list[dict[str, Any]]:
    """smimesh's CRDs with the conversion webhook's bundle, then OSM's Egress CRD (no conversion)."""
    crds = crd.all_crds(service)
    for definition in crds:
        definition["spec"]["conversion"]["webhook"]["clientConfig"]["caBundle"] = encode_bundle(ca_bundle_pem)
    return [*crds, *crd.osm_crds()]


def crd_bundle_patch(ca_bundle_pem: bytes) -> dict[str, Any]:
    client = {"caBundle": encode_bundle(ca_bundle_pem)}
    return {"spec": {"conversion": {"webhook": {"clientConfig": client}}}}


def crd_names() -> list[str]:
    return [f"{registry.KINDS[kind].plural}.{registry.KINDS[kind].group}" for kind in crd.smi_kinds()]
