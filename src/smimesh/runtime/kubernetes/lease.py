"""Leader election with a `coordination.k8s.io/v1` Lease (the client-go protocol, by hand).

Owns `LeaderElector(client, namespace, name, identity)`. Every `retry_s` each replica reads the Lease:
it takes it if there is none (create; a 409 means another replica was first), if it holds it (renew:
PUT with the read resourceVersion; a 409 means it lost it), or if the holder has not renewed for
`lease_duration_s` as observed **on this replica's monotonic clock** (so clock skew between nodes does
not matter; a takeover is a PUT that 409s if another replica took it first). A holder that cannot renew
within `renew_deadline_s` stops leading *before* the lease can expire, so two leaders never overlap as
long as clocks tick at the same rate. `is_leader`, `on_change(leading)`, `transitions` for tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from smimesh.sources.kubernetes.client import KubeApiError, KubeClient

log = logging.getLogger(__name__)


def micro_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Observed:
    record: tuple[str, str]  # (holder, renewTime) as last read
    at: float  # monotonic time it was first seen


class LeaderElector:
    """See the module docstring. `await run()` until cancelled (it steps down and releases on cancel)."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration_s: float = 15.0,
        renew_deadline_s: float = 10.0,
        retry_s: float = 2.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.client, self.namespace, self.name, self.identity = client, namespace, name, identity
        self.lease_duration_s, self.renew_deadline_s, self.retry_s = (
            lease_duration_s,
            renew_deadline_s,
            retry_s,
        )
        self._on_change = on_change
        self.is_leader = False
        self.transitions = 0
        self._observed: _Observed | None = None
        self._last_renew = 0.0
        self.release_on_stop = True  # False: stop as a crashed replica would (tests of failover)

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"

    async def run(self) -> None:
        try:
            while True:
                await self.step()
                await asyncio.sleep(self.retry_s)
        finally:
            await self._release()

    async def step(self) -> None:
        try:
            held = await self._try_acquire_or_renew()
        except (KubeApiError, httpx.HTTPError) as exc:
            log.warning("lease %s/%s: %s: %s", self.namespace, self.name, type(exc).__name__, exc)
            held = self.is_leader and time.monotonic() - self._last_renew < self.renew_deadline_s
        self._set_leader(held)

    def _set_leader(self, leading: bool) -> None:
        if leading != self.is_leader:
            self.is_leader = leading
            self.transitions += 1
            log.info(
                "lease %s/%s: %s %s",
                self.namespace,
                self.name,
                self.identity,
                "is the leader" if leading else "stepped down",
            )
            if self._on_change is not None:
                self._on_change(leading)

    async def _try_acquire_or_renew(self) -> bool:
        try:
            lease = await self.client.get(f"{self.path}/{self.name}")
        except KubeApiError as exc:
            if exc.code != 404:
                raise
            return await self._create()
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        if holder != self.identity and holder and not self._expired(holder, str(spec.get("renewTime", ""))):
            return False
        return await self._take(lease, transition=holder != self.identity)

    def _expired(self, holder: str, renew_time: str) -> bool:
        now = time.monotonic()
        record = (holder, renew_time)
        if self._observed is None or self._observed.record != record:
            self._observed = _Observed(record, now)
        return now - self._observed.at > self.lease_duration_s

    def _spec(self, transitions: int, acquired: str | None = None) -> dict[str, Any]:
        now = micro_time(datetime.now(UTC))
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration_s),
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def _create(self) -> bool:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(0),
        }
        try:
            await self.client.create(self.path, lease)
        except KubeApiError as exc:
            if exc.code == 409:
                return False
            raise
        self._last_renew = time.monotonic()
        return True

    async def _take(self, lease: dict[str, Any], *, transition: bool) -> bool:
        spec = lease.get("spec") or {}
        count = int(spec.get("leaseTransitions") or 0) + (1 if transition else 0)
        acquired = None if transition else spec.get("acquireTime")
        updated = dict(lease, spec=self._spec(count, acquired))
        try:
            await self.client.replace(f"{self.path}/{self.name}", updated)
        except KubeApiError as exc:
            if exc.code == 409:  # someone else renewed or took it between our read and write
                return False
            raise
        self._last_renew = time.monotonic()
        return True

    async def _release(self) -> None:
        """On a clean stop, give the lease up at once so another replica need not wait it out."""
        if not self.is_leader or not self.release_on_stop:
            return
        self._set_leader(False)
        with contextlib.suppress(KubeApiError, httpx.HTTPError, asyncio.CancelledError):
            lease = await self.client.get(f"{self.path}/{self.name}")
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                released = dict(lease, spec=dict(lease["spec"], holderIdentity="", leaseDurationSeconds=1))
                await self.client.replace(f"{self.path}/{self.name}", released)
