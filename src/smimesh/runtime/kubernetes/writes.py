"""What only the lease holder writes: Events for diagnostics, and the webhooks' caBundle.

Owns `LeaderWrites(client, identity=, bundle=, diagnostics=)`. While this replica leads, every
`interval_s` it (1) makes the caBundle of the SMI CRDs' conversion webhook, of the validating webhook
configuration and of the sidecar injector's (mutating) equal to the mesh CA bundle (a merge patch / a
PUT with the read resourceVersion, only when they differ) and (2) reports each diagnostic about an
object as a Kubernetes Event on that object (`reason` = the diagnostic code, `type` Warning for errors
and warnings). An Event's name is a digest of (object, code, message): writing it twice is a 409, never
a second Event, so a new leader, which first lists the Events already written, repeats nothing its
predecessor wrote.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from smimesh.api.webhooks.config import WEBHOOK_CONFIG_NAME, crd_bundle_patch, crd_names, encode_bundle
from smimesh.api.webhooks.inject_config import CONFIG_NAME as INJECTOR_CONFIG_NAME
from smimesh.diagnostics import Diagnostic
from smimesh.resources import registry
from smimesh.sources.kubernetes.client import KubeApiError, KubeClient

log = logging.getLogger(__name__)
MANAGED = {"app.kubernetes.io/managed-by": "smimesh"}
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
VWC_PATH = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
MWC_PATH = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


def event_name(diagnostic: Diagnostic) -> str:
    ref = diagnostic.object
    text = "\0".join((ref.kind, ref.namespace, ref.name, diagnostic.code, diagnostic.message))
    return f"smimesh.{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def event_for(diagnostic: Diagnostic, identity: str) -> dict[str, Any] | None:
    """The Event reporting `diagnostic` on its object (None: it names no namespaced object we know)."""
    ref = diagnostic.object
    info = registry.KINDS.get(ref.kind)
    if info is None or not ref.namespace or not ref.name:
        return None
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = diagnostic.message + (f" (hint: {diagnostic.hint})" if diagnostic.hint else "")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(diagnostic), "namespace": ref.namespace, "labels": dict(MANAGED)},
        "involvedObject": {
            "apiVersion": info.hub.API_VERSION,
            "kind": ref.kind,
            "name": ref.name,
            "namespace": ref.namespace,
            **({"fieldPath": diagnostic.path} if diagnostic.path else {}),
        },
        "reason": diagnostic.code,
        "message": message[:1024],
        "type": "Warning" if diagnostic.severity != "info" else "Normal",
        "source": {"component": "smimesh-controller"},
        "reportingComponent": "smimesh",
        "reportingInstance": identity,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


class LeaderWrites:
    """See the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        *,
        identity: str,
        bundle: Callable[[], bytes],
        diagnostics: Callable[[], Sequence[Diagnostic]],
        interval_s: float = 2.0,
    ) -> None:
        self.client, self.identity = client, identity
        self._bundle, self._diagnostics, self.interval_s = bundle, diagnostics, interval_s
        self._written: set[tuple[str, str]] | None = None  # (namespace, name); None: not read yet
        self.events_created = 0
        self.bundle_updates = 0

    def lost_leadership(self) -> None:
        self._written = None  # read again when leading again: another leader may have written meanwhile

    async def run(self, leading: Callable[[], bool]) -> None:
        while True:
            if leading():
                try:
                    await self.sync_once()
                except (KubeApiError, httpx.HTTPError) as exc:
                    log.warning("lease holder writes: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.interval_s)

    async def sync_once(self) -> None:
        await self.keep_bundles()
        await self.write_events()

    # ---- caBundle ---------------------------------------------------------------------------------

    async def keep_bundles(self) -> None:
        bundle = encode_bundle(self._bundle())
        for name in crd_names():
            await self._crd_bundle(name, bundle)
        # The validating webhook and the sidecar injector are served by the same certificate.
        await self._webhook_bundle(f"{VWC_PATH}/{WEBHOOK_CONFIG_NAME}", bundle)
        await self._webhook_bundle(f"{MWC_PATH}/{INJECTOR_CONFIG_NAME}", bundle)

    async def _crd_bundle(self, name: str, bundle: str) -> None:
        try:
            crd = await self.client.get(f"{CRD_PATH}/{name}")
        except KubeApiError as exc:
            if exc.code == 404:
                return
            raise
        client_config = (((crd.get("spec") or {}).get("conversion") or {}).get("webhook") or {}).get(
            "clientConfig"
        )
        if client_config is not None and client_config.get("caBundle") != bundle:
            await self.client.patch(f"{CRD_PATH}/{name}", crd_bundle_patch(self._bundle()))
            self.bundle_updates += 1

    async def _webhook_bundle(self, path: str, bundle: str) -> None:
        try:
            config = await self.client.get(path)
        except KubeApiError as exc:
            if exc.code == 404:
                return
            raise
        hooks = config.get("webhooks") or []
        if all((h.get("clientConfig") or {}).get("caBundle") == bundle for h in hooks):
            return
        for hook in hooks:
            hook.setdefault("clientConfig", {})["caBundle"] = bundle
        await self.client.replace(path, config)  # 409 if changed meanwhile
        self.bundle_updates += 1

    # ---- Events -----------------------------------------------------------------------------------

    async def _already_written(self) -> set[tuple[str, str]]:
        if self._written is None:
            listed = await self.client.list_objects(
                "/api/v1/events", {"labelSelector": "app.kubernetes.io/managed-by=smimesh"}
            )
            self._written = {
                (e["metadata"]["namespace"], e["metadata"]["name"]) for e in listed.get("items") or []
            }
        return self._written

    async def write_events(self) -> None:
        written = await self._already_written()
        for diagnostic in self._diagnostics():
            event = event_for(diagnostic, self.identity)
            if event is None:
                continue
            key = (event["metadata"]["namespace"], event["metadata"]["name"])
            if key in written:
                continue
            try:
                await self.client.create(f"/api/v1/namespaces/{key[0]}/events", event)
                self.events_created += 1
            except KubeApiError as exc:
                if exc.code not in (404, 409):  # 404: the namespace went away meanwhile
                    raise
            written.add(key)
