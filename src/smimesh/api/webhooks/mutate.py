"""AdmissionReview v1 for pods: sidecar injection as a JSON patch (`POST /mutate`).

The patch is `pods.patch.injection_patch`, built on the same pure function as `smimesh inject`, so the
webhook and the CLI cannot disagree. Which pods reach this webhook is the configuration's business
(`inject_config.mutating_webhook`: meshed namespaces, or pods labelled `smimesh.io/inject: enabled`);
here a pod is injected unless it is on the host network, opted out, of the control plane or already
injected — those are allowed unchanged, with the reason as an admission warning. A pod whose probes or
annotations cannot be honoured is refused with each problem's field path, so nothing runs unmeshed by
surprise. Only CREATE of a Pod is mutated; anything else is allowed as it is.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from smimesh.pods.inject import InjectConfig
from smimesh.pods.patch import injection_patch


def review(body: Mapping[str, Any], config: InjectConfig | None = None) -> dict[str, Any]:
    request = body.get("request") or {}
    uid = request.get("uid", "")
    pod = request.get("object")
    kind = (request.get("kind") or {}).get("kind")
    if request.get("operation") != "CREATE" or kind != "Pod" or not isinstance(pod, dict):
        return _answer(uid, {"allowed": True})
    patch = injection_patch(pod, config)
    outcome = patch.outcome
    if outcome.problems:
        message = "smimesh cannot inject this pod: " + "; ".join(f"{p}: {why}" for p, why in outcome.problems)
        return _answer(
            uid, {"allowed": False, "status": {"code": 400, "reason": "BadRequest", "message": message}}
        )
    if not patch.operations:
        return _answer(uid, {"allowed": True, "warnings": [f"smimesh: not injected: {outcome.reason}"]})
    encoded = base64.b64encode(json.dumps(patch.operations).encode()).decode()
    return _answer(uid, {"allowed": True, "patchType": "JSONPatch", "patch": encoded})


def _answer(uid: str, response: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, **response},
    }
