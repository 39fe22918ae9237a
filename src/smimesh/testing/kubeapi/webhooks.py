"""Calling webhooks the way kube-apiserver does: ConversionReview v1 and AdmissionReview v1 over HTTPS.

Owns `WebhookCaller`: it resolves a `clientConfig` (a `url`, or a `service` reference that tests route
to a loopback address with `route_service`), verifies the server's certificate against the configured
`caBundle` (or the system roots without one) for the name kube-apiserver checks (`<svc>.<ns>.svc` for a
service reference, the URL's host otherwise), and posts the review. `convert` turns objects into another
version of a CRD (strategy None only rewrites `apiVersion`); `admit` runs every matching validating
webhook (rules, namespaceSelector, objectSelector, failurePolicy) and returns its warnings or raises
the denial as kube-apiserver words it.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from smimesh.testing.kubeapi.catalog import ResourceType
from smimesh.testing.kubeapi.objects import ApiError, Obj
from smimesh.testing.kubeapi.selectors import label_selector

NamespaceLabels = Callable[[str], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    rtype: ResourceType
    version: str
    operation: str  # CREATE | UPDATE | DELETE
    namespace: str
    name: str
    obj: Obj | None
    old: Obj | None = None
    username: str = "kubernetes-admin"


class WebhookCaller:
    """See the module docstring. `timeout` caps a call when the config names no `timeoutSeconds`."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._routes: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self.timeout = timeout
        self.calls: list[tuple[str, str]] = []  # (review kind, url): for tests

    def route_service(self, namespace: str, name: str, address: str) -> None:
        """Send calls for Service `namespace/name` to `address` ("127.0.0.1:port"), as its endpoints."""
        with self._lock:
            self._routes[(namespace, name)] = address

    def _target(self, config: Mapping[str, Any]) -> tuple[str, str]:
        """(URL to dial, host name the certificate must carry)."""
        if "url" in config:
            return str(config["url"]), urlsplit(str(config["url"])).hostname or ""
        svc = config.get("service") or {}
        ns, name = svc.get("namespace", ""), svc.get("name", "")
        with self._lock:
            address = self._routes.get((ns, name))
        if address is None:
            raise ApiError(500, "InternalError", f'service "{name}" in namespace "{ns}" has no endpoints')
        path = svc.get("path", "/")
        return f"https://{address}{path}", f"{name}.{ns}.svc"

    async def post(self, config: Mapping[str, Any], review: Obj, limit_s: float | None = None) -> Obj:
        url, host = self._target(config)
        bundle = config.get("caBundle")
        context = ssl.create_default_context()
        if bundle:
            context = ssl.create_default_context(cadata=base64.b64decode(bundle).decode())
        self.calls.append((str(review.get("kind")), url))
        async with httpx.AsyncClient(verify=context, timeout=limit_s or self.timeout) as client:
            response = await client.post(url, json=review, extensions={"sni_hostname": host})
        response.raise_for_status()
        return dict(response.json())

    # ---- conversion -------------------------------------------------------------------------------

    async def convert(self, rtype: ResourceType, objects: Sequence[Obj], version: str) -> list[Obj]:
        """`objects` in `version` of `rtype` (through its conversion webhook unless strategy None)."""
        desired = rtype.api_version(version)
        todo = [obj for obj in objects if obj.get("apiVersion") != desired]
        if not todo:
            return list(objects)
        conversion = rtype.conversion
        if conversion.get("strategy", "None") == "None":
            return [dict(obj, apiVersion=desired) for obj in objects]
        converted = iter(await self._review(rtype, conversion.get("webhook") or {}, todo, desired))
        return [obj if obj.get("apiVersion") == desired else next(converted) for obj in objects]

    async def _review(
        self, rtype: ResourceType, webhook: Mapping[str, Any], objects: list[Obj], desired: str
    ) -> list[Obj]:
        review = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {"uid": str(uuid.uuid4()), "desiredAPIVersion": desired, "objects": objects},
        }
        failed = f"conversion webhook for {rtype.api_version(rtype.storage)}, Kind={rtype.kind} failed"
        try:
            answer = await self.post(webhook.get("clientConfig") or {}, review)
        except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as exc:
            raise ApiError(500, "InternalError", f"{failed}: {type(exc).__name__}: {exc}") from None
        result = (answer.get("response") or {}).get("result") or {}
        if result.get("status") != "Success":
            raise ApiError(500, "InternalError", f"{failed}: {result.get('message', 'no result')}")
        return list((answer.get("response") or {}).get("convertedObjects") or [])

    # ---- admission --------------------------------------------------------------------------------

    async def admit(
        self, configs: Sequence[Obj], request: AdmissionRequest, namespace_labels: NamespaceLabels
    ) -> list[str]:
        """Warnings of every validating webhook that lets `request` through; raises the first denial."""
        warnings: list[str] = []
        for config in configs:
            for webhook in config.get("webhooks") or []:
                if _matches(webhook, request, namespace_labels):
                    warnings += await self._admit_one(webhook, request)
        return warnings

    async def mutate(
        self, configs: Sequence[Obj], request: AdmissionRequest, namespace_labels: NamespaceLabels
    ) -> tuple[Obj | None, list[str]]:
        """Mutating admission: each matching webhook in turn sees the object as the previous ones left
        it; a JSONPatch answer is applied. Returns (the object, the warnings); raises a denial."""
        from smimesh.testing.kubeapi.patches import json_patch

        warnings: list[str] = []
        for config in configs:
            for webhook in config.get("webhooks") or []:
                if _matches(webhook, request, namespace_labels):
                    response = await self._respond(webhook, request)
                    warnings += [str(w) for w in response.get("warnings") or []]
                    if response.get("patchType") == "JSONPatch" and response.get("patch"):
                        operations = json.loads(base64.b64decode(response["patch"]))
                        request = replace(request, obj=json_patch(request.obj, operations))
        return request.obj, warnings

    async def _respond(self, webhook: Mapping[str, Any], request: AdmissionRequest) -> Obj:
        """The webhook's AdmissionReview response ({} when it failed and failurePolicy is Ignore)."""
        name = webhook.get("name", "?")
        try:
            answer = await self.post(
                webhook.get("clientConfig") or {},
                _admission_review(request),
                limit_s=float(webhook.get("timeoutSeconds", self.timeout)),
            )
        except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as exc:
            if webhook.get("failurePolicy", "Fail") == "Ignore":
                return {"allowed": True}
            raise ApiError(
                500, "InternalError", f'Internal error occurred: failed calling webhook "{name}": {exc}'
            ) from None
        response: Obj = answer.get("response") or {}
        if not response.get("allowed"):
            status = response.get("status") or {}
            message = f'admission webhook "{name}" denied the request: {status.get("message", "")}'
            denied = ApiError(
                int(status.get("code") or 403), str(status.get("reason") or "Forbidden"), message
            )
            denied.warnings = [str(w) for w in response.get("warnings") or []]
            raise denied
        return response

    async def _admit_one(self, webhook: Mapping[str, Any], request: AdmissionRequest) -> list[str]:
        response = await self._respond(webhook, request)
        return [str(w) for w in response.get("warnings") or []]


def _admission_review(request: AdmissionRequest) -> Obj:
    rtype = request.rtype
    kind = {"group": rtype.group, "version": request.version, "kind": rtype.kind}
    resource = {"group": rtype.group, "version": request.version, "resource": rtype.plural}
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": kind,
            "resource": resource,
            "requestKind": kind,
            "requestResource": resource,
            "name": request.name,
            "namespace": request.namespace,
            "operation": request.operation,
            "userInfo": {"username": request.username},
            "object": request.obj,
            "oldObject": request.old,
            "dryRun": False,
        },
    }


def _matches(
    webhook: Mapping[str, Any], request: AdmissionRequest, namespace_labels: NamespaceLabels
) -> bool:
    if not any(_rule_matches(rule, request) for rule in webhook.get("rules") or []):
        return False
    obj = request.obj or request.old or {}
    if request.rtype.namespaced and "namespaceSelector" in webhook:
        ns = {"metadata": {"labels": dict(namespace_labels(request.namespace))}}
        if not _selects(webhook["namespaceSelector"], ns):
            return False
    return "objectSelector" not in webhook or _selects(webhook["objectSelector"], obj)


def _rule_matches(rule: Mapping[str, Any], request: AdmissionRequest) -> bool:
    def has(values: Any, value: str) -> bool:
        return "*" in (values or []) or value in (values or [])

    return (
        has(rule.get("operations"), request.operation)
        and has(rule.get("apiGroups"), request.rtype.group)
        and has(rule.get("apiVersions"), request.version)
        and has(rule.get("resources"), request.rtype.plural)
    )


def _selects(selector: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) as a predicate."""
    terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], ",".join(expr.get("values") or [])
        terms.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[op]
        )
    return label_selector(",".join(terms))(obj)
