"""What only the lease holder writes: Events for diagnostics, and the webhooks' caBundle.

Owns `LeaderWrites(client, identity=, bundle=, diagnostics=)`. While this replica leads, every
`interval_s` it (1) makes the caBundle of the SMI CRDs' conversion webhook, of the validating webhook
configuration and of the sidecar injector's (mutating) equal to the mesh CA bundle (a merge patch / a
PUT with the read resourceVersion, only when they differ) and (2) keeps one Kubernetes Event per
current diagnostic about an object, on that object (`reason` = the diagnostic code, `type` Warning
for errors and warnings).

Events follow client-go's recorder: one Event per (object, code, message), named by a digest of
them, so a problem seen again never piles up a second Event: while it lasts, the Event's `count`
and `lastTimestamp` are bumped (a merge patch) every `refresh_s` (10 min by default, well inside
kube-apiserver's `--event-ttl`, 1 h by default, which every write restarts), and an Event that
expired or was deleted meanwhile is created again. When the problem is gone (the object was fixed
or deleted), its Event is deleted, so `kubectl get events` / `describe` show no stale problem;
deletion waits until `settled()` (informers synced, the model built from the current store), so
a replica that has not read everything yet never deletes a live problem's Event. A new leader
first lists the Events already written (with their counts) and carries on from them: nothing is
written twice across failovers.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from smimesh.api.webhooks.config import WEBHOOK_CONFIG_NAME, crd_bundle_patch, crd_names, encode_bundle
from smimesh.api.webhooks.inject_config import CONFIG_NAME as INJECTOR_CONFIG_NAME
from smimesh.diagnostics import Diagnostic
from smimesh.resources import registry
from smimesh.sources.kubernetes.client import KubeApiError, KubeClient

log = logging.getLogger(__name__)
# Only diagnostic Events carry this label (the canaries' do not): the lease holder lists them by it and
# deletes those whose problem is gone.
MANAGED = {"app.kubernetes.io/managed-by": "smimesh"}
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
VWC_PATH = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
MWC_PATH = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
#: How often a lasting problem's Event is bumped: well inside kube-apiserver's default event TTL (1 h).
DEFAULT_EVENT_REFRESH_S = 600.0


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


@dataclass
class _Written:
    """An Event this leader knows is written: its count, and when it was last written or read."""

    count: int
    at: float  # monotonic


_Key = tuple[str, str]  # an Event's (namespace, name)
_Book = dict[_Key, _Written]


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
        refresh_s: float = DEFAULT_EVENT_REFRESH_S,
        settled: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.identity = client, identity
        self._bundle, self._diagnostics, self.interval_s = bundle, diagnostics, interval_s
        self.refresh_s, self._settled, self._clock = refresh_s, settled, clock
        # (namespace, name) -> what this leader wrote or read; None: not read yet.
        self._written: _Book | None = None
        self.events_created = self.events_updated = self.events_deleted = 0
        self.bundle_updates = 0
        self.bundles_synced = False

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
        self.bundles_synced = True  # every caBundle was current once (tests and readers wait for it)
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

    async def _already_written(self) -> _Book:
        if self._written is None:
            listed = await self.client.list_objects(
                "/api/v1/events", {"labelSelector": "app.kubernetes.io/managed-by=smimesh"}
            )
            now = self._clock()  # a new leader refreshes them one `refresh_s` from now
            self._written = {
                (e["metadata"]["namespace"], e["metadata"]["name"]): _Written(e.get("count") or 1, now)
                for e in listed.get("items") or []
            }
        return self._written

    def _current_events(self) -> dict[_Key, dict[str, Any]]:
        found = (event_for(d, self.identity) for d in self._diagnostics())
        return {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in found if e is not None}

    async def write_events(self) -> None:
        written = await self._already_written()
        current = self._current_events()
        for key, event in current.items():
            state = written.get(key)
            if state is None:
                await self._create_event(written, key, event)
            elif self._clock() - state.at >= self.refresh_s:
                await self._bump_event(written, key, event)
        if self._settled():
            for key in set(written) - set(current):
                await self._delete_event(written, key)

    async def _create_event(self, written: _Book, key: _Key, event: dict[str, Any]) -> None:
        try:
            await self.client.create(f"/api/v1/namespaces/{key[0]}/events", event)
            self.events_created += 1
        except KubeApiError as exc:
            if exc.code == 404:  # the namespace went away meanwhile
                return
            if exc.code != 409:
                raise
            # Written by a predecessor after our list: carry on from its count.
            existing = await self.client.get(_event_path(key))
            event["count"] = existing.get("count") or 1
        written[key] = _Written(event["count"], self._clock())

    async def _bump_event(self, written: _Book, key: _Key, event: dict[str, Any]) -> None:
        state = written[key]
        patch = {"count": state.count + 1, "lastTimestamp": event["lastTimestamp"]}
        try:
            await self.client.patch(_event_path(key), patch)
        except KubeApiError as exc:
            if exc.code != 404:
                raise
            del written[key]  # expired (event TTL) or deleted: create it again
            await self._create_event(written, key, event)
            return
        state.count, state.at = patch["count"], self._clock()
        self.events_updated += 1

    async def _delete_event(self, written: _Book, key: _Key) -> None:
        try:
            await self.client.delete(_event_path(key))
            self.events_deleted += 1
            log.info("deleted Event %s/%s: its problem is gone", *key)
        except KubeApiError as exc:
            if exc.code != 404:
                raise
        del written[key]


def _event_path(key: _Key) -> str:
    return f"/api/v1/namespaces/{key[0]}/events/{key[1]}"
