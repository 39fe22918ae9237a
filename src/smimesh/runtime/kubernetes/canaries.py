"""The canary controller of `smimesh controller`: Flagger's Canaries, run by the lease holder.

Owns `KubeCanaries(client, state_dir, leading=, metrics_query=, identity=)`; `await run()` until
cancelled. Every replica keeps informers of `flagger.app/v1beta1` Canaries (loaded into a store of
their own, as a manifest file is) and of Deployments. Only while `leading()` does it run the same
`CanaryController` and `Analysis` as local mode, over `KubeCanaryTarget` (canary_target.py); a
replica that loses the Lease stops at once. What the analysis reports goes back to the cluster:
each saved state as the Canary's status (a merge patch of its `status` subresource, as Flagger
writes it) and each canary event as a Kubernetes Event on the Canary (reason `Synced`, type
Normal/Warning, as Flagger's recorder writes them). A new revision is noticed at the canary's next
pass (its interval, at most), as Flagger notices it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from smimesh.resources import ResourceKey, load_documents
from smimesh.resources.canary import Canary
from smimesh.resources.document import Document
from smimesh.runtime.canary import state as st
from smimesh.runtime.canary.analysis import Analysis
from smimesh.runtime.canary.controller import CanaryController
from smimesh.runtime.canary.local_metrics import QueryMetrics
from smimesh.runtime.canary.persist import StatusStore
from smimesh.runtime.canary.state import CanaryState
from smimesh.runtime.canary.webhooks import HookCaller
from smimesh.runtime.kubernetes.canary_target import KubeCanaryTarget
from smimesh.sources.kubernetes.client import KubeApiError, KubeClient
from smimesh.sources.kubernetes.informer import Event, Informer
from smimesh.sources.store import ResourceStore

log = logging.getLogger(__name__)
CANARIES = "/apis/flagger.app/v1beta1/canaries"
DEPLOYMENTS = "/apis/apps/v1/deployments"
FLUSH_S = 0.2
LEADER_POLL_S = 0.2
RETRY_S = 1.0


def canary_path(key: ResourceKey) -> str:
    return f"/apis/flagger.app/v1beta1/namespaces/{key.namespace}/canaries/{key.name}"


class KubeStatuses(StatusStore):
    """Each saved status queued for the API (and kept in sqlite beside it, as locally); `load` is
    what the cluster says (`recovered`), never this replica's file, which may be from an older term."""

    def __init__(self, path: Path, recovered: dict[tuple[str, str], CanaryState]) -> None:
        super().__init__(path)
        self.recovered = recovered
        self.pending: dict[ResourceKey, dict[str, Any]] = {}

    def load(self) -> dict[tuple[str, str], CanaryState]:
        return dict(self.recovered)

    def save(self, key: ResourceKey, state: CanaryState) -> None:
        super().save(key, state)
        self.pending[key] = state.status()


class KubeCanaries:
    """See the module docstring."""

    def __init__(
        self,
        client: KubeClient,
        state_dir: Path,
        *,
        leading: Callable[[], bool],
        metrics_query: Callable[[], Any],
        identity: str,
    ) -> None:
        self.client, self.state_dir, self.leading, self.identity = client, state_dir, leading, identity
        self.metrics_query = metrics_query
        self.store = ResourceStore()
        self.canaries = Informer(client, CANARIES, self._canaries_changed, name="Canary")
        self.deployments = Informer(client, DEPLOYMENTS, _nothing, name="Deployment")
        self.target = KubeCanaryTarget(client, lambda: list(self.deployments.cache.values()))
        self.events: list[dict[str, Any]] = []  # Kubernetes Events not yet written
        self._warned: dict[str, list[str]] = {}  # origin -> the diagnostics last logged
        self.controller: CanaryController | None = None  # while this replica leads
        self.statuses_written = 0
        self.events_written = 0

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:  # cancelling run() cancels all three
            group.create_task(self.canaries.run(), name="informer Canary")
            group.create_task(self.deployments.run(), name="informer Deployment")
            group.create_task(self._lead(), name="canary controller")

    async def _canaries_changed(self, events: list[Event]) -> None:
        with self.store.batch():
            for event in events:
                origin = f"kubernetes:Canary/{event.key[0]}/{event.key[1]}"
                if event.type == "DELETED":
                    await self.store.remove_origin(origin)
                    continue
                loaded = load_documents([Document(event.obj, origin, 0)], references=False)
                self._warn(origin, [d.format() for d in loaded.diagnostics])
                if loaded.ok:
                    await self.store.replace_origin(origin, loaded.objects)

    def _warn(self, origin: str, texts: list[str]) -> None:
        """Each diagnostic once per change of the Canary (every status write is a change too)."""
        if self._warned.get(origin) != texts:
            self._warned[origin] = texts
            for text in texts:
                log.warning("%s", text)

    # ---- leading --------------------------------------------------------------------------------
    async def _lead(self) -> None:
        while True:
            if self._may_lead():
                await self._term()
            else:  # the Lease is polled (lease.py has no event to wait on)
                await asyncio.sleep(LEADER_POLL_S)

    def _may_lead(self) -> bool:
        return self.leading() and self.canaries.synced.is_set() and self.deployments.synced.is_set()

    async def _term(self) -> None:
        """One leadership term: a controller of its own, stopped the moment the Lease is lost."""
        hooks = HookCaller()
        statuses = KubeStatuses(self.state_dir / "canaries.sqlite3", self._recovered())
        analysis = Analysis(self.target, self.target, QueryMetrics(self.metrics_query), hooks, _no_event)
        controller = CanaryController(self.store, analysis, statuses, say=log.info)
        analysis.events = self._recorder(controller)
        self.controller = controller
        running: asyncio.Task[None] | None = None
        try:
            await controller.restore()
            running = asyncio.create_task(controller.run(), name="canary passes")
            while self.leading() and not running.done():
                await self._flush(statuses)
                await asyncio.sleep(FLUSH_S)
            running.result() if running.done() else None  # a crash is reported below
        except Exception as error:  # the next term (at once, if still leading) starts over
            log.warning("canary controller stopped (%r); starting again", error)
            await asyncio.sleep(RETRY_S)
        finally:
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running
            self.controller = None
            await hooks.close()
            statuses.close()

    def _recovered(self) -> dict[tuple[str, str], CanaryState]:
        """Each Canary's state as the cluster holds it (its status, its primary's pod template), so a
        new Lease holder continues an analysis from where the last one wrote it."""
        found = {}
        for canary in self.store.snapshot().of_kind(Canary):
            key = (canary.metadata.namespace, canary.metadata.name)
            obj = self.canaries.cache.get(key) or {}
            state = recover(canary, obj.get("status") or {}, self.target)
            if state is not None:
                found[key] = state
        return found

    def _recorder(self, controller: CanaryController) -> Callable[[Canary, str, bool], None]:
        def record(canary: Canary, message: str, warning: bool) -> None:
            controller.record_event(canary, message, warning)
            self.events.append(event_for(canary, message, warning, self.identity))

        return record

    async def _flush(self, statuses: KubeStatuses) -> None:
        """Write the queued statuses and Events; one that fails is tried again on the next flush."""
        for key, status in list(statuses.pending.items()):
            try:
                await self.client.patch(f"{canary_path(key)}/status", {"status": status})
                self.statuses_written += 1
                if statuses.pending.get(key) is status:
                    del statuses.pending[key]
            except (KubeApiError, httpx.HTTPError) as error:
                if isinstance(error, KubeApiError) and error.code == 404:  # the Canary is gone
                    statuses.pending.pop(key, None)
                log.warning("canary %s: status not written: %s", key, error)
        while self.events:
            event = self.events[0]
            try:
                await self.client.create(f"/api/v1/namespaces/{event['metadata']['namespace']}/events", event)
                self.events_written += 1
            except KubeApiError as error:
                log.warning("canary event not written: %s", error)
            except httpx.HTTPError:
                return
            self.events.pop(0)


def recover(canary: Canary, status: dict[str, Any], target: KubeCanaryTarget) -> CanaryState | None:
    """The state `status` was written from, with the promoted pod template read back from the
    `-primary` Deployment (None: nothing to resume, the analysis starts by initializing)."""
    primary = target.primary_template(canary)
    current = target.revision(canary)
    if not status.get("phase") or not status.get("lastAppliedSpec") or primary is None or current is None:
        return None
    condition = (status.get("conditions") or [{}])[0]
    return CanaryState(
        phase=status["phase"],
        failed_checks=int(status.get("failedChecks", 0)),
        canary_weight=int(status.get("canaryWeight", 0)),
        iterations=int(status.get("iterations", 0)),
        last_applied_spec=status["lastAppliedSpec"],
        last_promoted_spec=status.get("lastPromotedSpec", ""),
        last_transition_time=status.get("lastTransitionTime", ""),
        condition_status=condition.get("status", "Unknown"),
        condition_reason=condition.get("reason", status["phase"]),
        message=condition.get("message", ""),
        primary_spec={"template": primary},
        canary_spec=current.spec,
        started_at=time.time(),  # the progress deadline counts again from the takeover
        pre_rollout_done=status["phase"] in st.CANARY_RUNS,  # no second pre-rollout run
    )


def event_for(canary: Canary, message: str, warning: bool, identity: str) -> dict[str, Any]:
    """The Event Flagger's recorder writes for a canary event (reason `Synced`)."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = canary.metadata
    digest = hashlib.sha256(
        f"{meta.namespace}/{meta.name}\0{message}\0{now.isoformat()}".encode()
    ).hexdigest()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta.name}.{digest[:16]}", "namespace": meta.namespace},
        "involvedObject": {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "Canary",
            "name": meta.name,
            "namespace": meta.namespace,
        },
        "reason": "Synced",
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": "smimesh-controller"},
        "reportingComponent": "smimesh",
        "reportingInstance": identity,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


async def _nothing(events: list[Event]) -> None:
    return None


def _no_event(canary: Canary, message: str, warning: bool) -> None:
    return None
