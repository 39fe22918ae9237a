"""The canary controller: the one task that owns every Canary's state, its timer and its commands.

`CanaryController(store, analysis, statuses, log_dir=...)`: `await restore()` before the Workload
reconciler starts (every saved state is routed again, so a restart never runs a target it should
not, nor leaves weights without an owner), then `await run()` until cancelled. Each pass advances
the canaries whose interval is due, or all of them after a store change (a new revision is noticed
at once); a canary's failure is reported as an event and never stops the others. Commands
(`smimesh canary promote|abort|retry|pause|resume|set-weight`) take the canary's lock, so they never
interleave with its step. Every changed state is saved before the next pass.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smimesh.errors import SmimeshError
from smimesh.resources import ResourceKey
from smimesh.resources.canary import Canary
from smimesh.runtime.canary import state as st
from smimesh.runtime.canary.analysis import Analysis, max_weight
from smimesh.runtime.canary.checks import interval_s
from smimesh.runtime.canary.persist import StatusStore
from smimesh.runtime.canary.state import CanaryState, now_text

RETRY_S = 1.0  # after a pass that failed
READINESS_POLL_S = 0.5  # Initializing / Promoting wait for instances, not for an interval
EVENTS_KEPT = 30
ACTIONS = ("promote", "abort", "retry", "pause", "resume", "set-weight")


class CanaryCommandError(SmimeshError):
    """A command the canary cannot take now (the API answers 409 with the hint)."""


class CanaryController:
    def __init__(
        self,
        store: Any,
        analysis: Analysis,
        statuses: StatusStore,
        *,
        log_dir: Path | None = None,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.analysis, self.statuses = store, analysis, statuses
        self.log_dir, self.say, self.clock = log_dir, say, clock
        self.states: dict[ResourceKey, CanaryState] = {}
        self.events: dict[ResourceKey, deque[dict[str, Any]]] = {}
        self._due: dict[ResourceKey, float] = {}
        self._locks: dict[ResourceKey, asyncio.Lock] = {}
        self._generation = -1
        self._wake = asyncio.Event()
        analysis.events = self.record_event

    # ---- lifetime -----------------------------------------------------------------------------
    async def restore(self) -> None:
        saved = await asyncio.to_thread(self.statuses.load)
        for canary in self._canaries():
            state = saved.get((canary.metadata.namespace, canary.metadata.name))
            if state is not None:
                self.states[canary.key] = state
                await self.analysis.publish(canary, state)

    async def run(self) -> None:
        """The owner loop, supervised by itself: a pass that fails is reported and the next one
        runs (after a pause), so no canary is left without an owner by one bad pass."""
        subscription = self.store.subscribe()
        while True:
            try:
                await self.pass_once()
            except Exception as error:  # a bug in one pass must not end every analysis
                self.say(f"canary controller: a pass failed ({error!r}); retrying in {RETRY_S:g} s")
                await asyncio.sleep(RETRY_S)
            await self._sleep(subscription)

    async def pass_once(self) -> None:
        canaries = self._canaries()
        changed = self.store.generation != self._generation
        self._generation = self.store.generation
        await self._forget_deleted({c.key for c in canaries})
        now = self.clock()
        wanted = [c for c in canaries if changed or self._due.get(c.key, 0.0) <= now]
        await asyncio.gather(*(self._advance(c, now) for c in wanted))

    async def _sleep(self, subscription: Any) -> None:
        soonest = min(self._due.values(), default=self.clock() + 1.0)
        timeout = max(0.02, min(soonest - self.clock(), 1.0))
        waiter = asyncio.ensure_future(subscription.__anext__())
        woken = asyncio.ensure_future(self._wake.wait())
        _, pending = await asyncio.wait({waiter, woken}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        self._wake.clear()

    # ---- one canary ---------------------------------------------------------------------------
    async def _advance(self, canary: Canary, now: float) -> None:
        key = canary.key
        async with self._lock(key):
            state = self.states.setdefault(key, CanaryState())
            before, applied = state.fingerprint(), state.last_applied_spec
            due = self._due.get(key, 0.0) <= now
            try:
                await self.analysis.advance(canary, state, due)
            except Exception as error:  # one canary's bug must not stop the others
                self.record_event(canary, f"internal error: {error!r}", True)
            if due or state.last_applied_spec != applied:
                self._due[key] = now + self._period(canary, state)
            await self._save(key, state, before)

    def _period(self, canary: Canary, state: CanaryState) -> float:
        if state.phase in (st.INITIALIZING, st.PROMOTING):
            return READINESS_POLL_S
        return interval_s(canary)

    async def _save(self, key: ResourceKey, state: CanaryState, before: tuple[Any, ...]) -> None:
        if state.fingerprint() != before:
            await asyncio.to_thread(self.statuses.save, key, state)

    async def _forget_deleted(self, present: set[ResourceKey]) -> None:
        for key in [k for k in self.states if k not in present]:
            self.states.pop(key)
            self._due.pop(key, None)
            await self.analysis.writer.remove(key)
            await asyncio.to_thread(self.statuses.remove, key)
            self.say(f"canary {key.namespace}/{key.name} deleted: its primary, Services and split removed")

    def _lock(self, key: ResourceKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _canaries(self) -> list[Canary]:
        return list(self.store.snapshot().of_kind(Canary))

    # ---- events -------------------------------------------------------------------------------
    def record_event(self, canary: Canary, message: str, warning: bool) -> None:
        kind = "Warning" if warning else "Normal"
        entry = {"time": now_text(self.clock()), "type": kind, "message": message}
        self.events.setdefault(canary.key, deque(maxlen=EVENTS_KEPT)).append(entry)
        self.say(f"canary {canary.metadata.namespace}/{canary.metadata.name}: {message}")
        if self.log_dir is not None:
            path = self.log_dir / canary.metadata.namespace / f"canary-{canary.metadata.name}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as log:
                log.write(f"{entry['time']} {kind} {message}\n")

    # ---- reading (the API) --------------------------------------------------------------------
    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return [self.describe(c) for c in self._canaries() if namespace in (None, c.metadata.namespace)]

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        canary = self.store.snapshot().find(Canary, namespace, name)
        return None if canary is None else self.describe(canary)

    def describe(self, canary: Canary) -> dict[str, Any]:
        state = self.states.get(canary.key, CanaryState())
        analysis = canary.spec.analysis
        return {
            "name": canary.metadata.name,
            "namespace": canary.metadata.namespace,
            "target": canary.spec.target_ref.name,
            "service": canary.service_name,
            "interval": analysis.interval,
            "threshold": analysis.threshold,
            "maxWeight": max_weight(canary),
            "iterations": analysis.iterations,
            "onNoData": canary.on_no_data,
            "minRequests": canary.min_requests,
            "status": state.status(),
            "events": list(self.events.get(canary.key, ())),
        }

    # ---- commands -----------------------------------------------------------------------------
    async def command(
        self, namespace: str, name: str, action: str, weight: int | None = None
    ) -> dict[str, Any]:
        canary = self.store.snapshot().find(Canary, namespace, name)
        if canary is None:
            raise KeyError(f"Canary/{namespace}/{name}")
        async with self._lock(canary.key):
            state = self.states.setdefault(canary.key, CanaryState())
            before = state.fingerprint()
            await self._apply(canary, state, action, weight)
            await self.analysis.publish(canary, state)
            await self._save(canary.key, state, before)
        self._wake.set()
        return self.describe(canary)

    async def _apply(self, canary: Canary, state: CanaryState, action: str, weight: int | None) -> None:
        analysing = state.phase in st.ANALYSING
        if action == "pause" or action == "resume":
            state.paused = action == "pause"
            self.record_event(canary, f"Analysis of {canary.metadata.name} {action}d by command", False)
        elif action == "abort" and (analysing or state.phase == st.PROMOTING):
            await self.analysis.rollback(
                canary, state, f"Rolling back {canary.metadata.name}: aborted by command"
            )
        elif action == "promote" and analysing:
            state.promote_now = True
            self._due[canary.key] = 0.0
        elif action == "retry" and state.phase == st.FAILED:
            await self.analysis.retry(canary, state)
        elif action == "set-weight" and analysing and weight is not None:
            state.canary_weight = weight
            self.record_event(
                canary, f"Canary weight of {canary.metadata.name} set to {weight} by command", False
            )
        else:
            raise CanaryCommandError(
                f"cannot {action} canary {canary.metadata.name} in phase {state.phase or 'none'}",
                hint=_hint(action),
            )


def _hint(action: str) -> str:
    return {
        "promote": "promote applies while the analysis runs (Progressing, Waiting, WaitingPromotion)",
        "abort": "abort applies while the analysis runs or the promotion is under way",
        "retry": "retry applies to a Failed canary: it analyses the same revision again",
        "set-weight": "set-weight applies while the analysis runs; give a weight 0-100",
    }.get(action, "actions: " + ", ".join(ACTIONS))
