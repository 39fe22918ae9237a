"""One canary's analysis, step by step, as Flagger's scheduler runs it (ANCHORS B3), on local seams.

`Analysis.advance(canary, state, due)` is called by the controller (the one owner of every state)
on each pass: it notices a new revision at once, and runs the phase's step when the canary's
interval is `due`. Steps:

  Initializing   write the `-primary` copy, Services and split; the target serves until the
                 primary does (weight 100 to `-canary`), then it is scaled to 0 -> Initialized
  new revision   confirm-rollout gates (closed: Waiting) -> Progressing, canary scaled up
  Progressing    canary ready (else, past progressDeadlineSeconds: rollback); a successful
                 `rollback` hook rolls back; pre-rollout hooks once; then, once the canary had
                 traffic: rollout hooks + metric checks (fail: failedChecks += 1, rollback at
                 `threshold`; no data: the policy); then confirm-traffic-increase and the next
                 weight (stepWeight / stepWeights up to maxWeight), or the next iteration (A/B);
                 at the end confirm-promotion (closed: WaitingPromotion)
  Promoting      the primary gets the canary's spec; while it restarts the canary serves all
                 traffic; then back to the primary (by stepWeightPromotion, or at once)
  Finalising     canary scaled to 0 -> Succeeded, post-rollout hooks
  rollback       weight 0, canary scaled to 0 -> Failed, post-rollout hooks

Every event goes to `events` (the canary's log) and to the `event` webhooks.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from smimesh.resources.canary import Canary, Webhook
from smimesh.runtime.canary import checks as ck
from smimesh.runtime.canary import state as st
from smimesh.runtime.canary.state import CanaryState
from smimesh.runtime.canary.target import Revision, Routing, SplitWriter, TargetRevisions
from smimesh.runtime.canary.webhooks import HookResult, event_metadata, hooks_of, payload

DEFAULT_DEADLINE_S = 600.0
GATES = {"confirm-rollout", "confirm-traffic-increase", "confirm-promotion"}


class Hooks(Protocol):
    async def call(self, hook: Webhook, body: dict[str, Any]) -> HookResult: ...


Events = Callable[[Canary, str, bool], None]  # (canary, message, warning)


@dataclass
class Analysis:
    target: TargetRevisions
    writer: SplitWriter
    metrics: ck.MetricsReader
    hooks: Hooks
    events: Events
    clock: Callable[[], float] = field(default=time.time)
    templates: ck.TemplateReader | None = None  # metrics by templateRef (prometheus.py)

    async def advance(self, canary: Canary, state: CanaryState, due: bool) -> None:
        problem = self.target.problem(canary)
        if problem:
            await self._blocked(canary, state, problem)
            return
        revision = self.target.revision(canary)
        assert revision is not None  # no problem means the target exists
        if state.primary_spec is None:
            await self._initialize(canary, state, revision)
            return
        if revision.checksum != state.last_applied_spec and state.phase != st.INITIALIZING:
            await self._new_revision(canary, state, revision)
            due = True
        if due and not (canary.spec.suspend or state.paused):
            await getattr(self, _STEPS.get(state.phase, "_idle"))(canary, state)
        await self.publish(canary, state)

    async def publish(self, canary: Canary, state: CanaryState) -> None:
        await self.writer.write(canary, routing_of(canary, state))

    # ---- start ----------------------------------------------------------------------------------
    async def _blocked(self, canary: Canary, state: CanaryState, problem: str) -> None:
        if state.message != problem:
            state.message = problem
            self.events(canary, problem, True)

    async def _initialize(self, canary: Canary, state: CanaryState, revision: Revision) -> None:
        state.primary_spec, state.canary_spec = revision.spec, revision.spec
        state.last_applied_spec = state.last_promoted_spec = revision.checksum
        state.canary_weight, state.message = 100, "starting the primary; the target serves meanwhile"
        state.move(st.INITIALIZING, self.clock())
        await self.publish(canary, state)

    async def _initializing(self, canary: Canary, state: CanaryState) -> None:
        if not self.target.ready(canary, "primary"):
            return
        state.canary_weight = 0
        state.move(st.INITIALIZED, self.clock())
        state.message = "Deployment initialization completed."
        await self._event(canary, state, f"Initialization done! {_name(canary)}")

    async def _new_revision(self, canary: Canary, state: CanaryState, revision: Revision) -> None:
        restarting = state.phase in st.ANALYSING or state.phase == st.PROMOTING
        state.last_applied_spec, state.canary_spec = revision.checksum, revision.spec
        self._reset(state, canary)
        what = "Restarting analysis for" if restarting else "Scaling up"
        await self._event(canary, state, f"New revision detected! {what} {_name(canary)}")
        await self._start(canary, state)

    def _reset(self, state: CanaryState, canary: Canary) -> None:
        state.failed_checks = state.iterations = state.canary_weight = 0
        state.pre_rollout_done = state.promote_now = state.mirrored = False
        state.started_at = self.clock()
        affinity = canary.spec.analysis.session_affinity
        state.session_cookie = f"{affinity.cookie_name}={secrets.token_hex(8)}" if affinity else ""

    async def _start(self, canary: Canary, state: CanaryState) -> None:
        if canary.spec.skip_analysis:
            await self._promote(canary, state)
            return
        if not await self._gate(canary, state, "confirm-rollout"):
            state.move(st.WAITING, self.clock())
            return
        state.move(st.PROGRESSING, self.clock())
        state.message = "New revision detected, progressing canary analysis."

    async def retry(self, canary: Canary, state: CanaryState) -> None:
        """`smimesh canary retry`: analyse the current revision again after a failure."""
        self._reset(state, canary)
        await self._event(canary, state, f"Retrying the analysis of {_name(canary)}")
        await self._start(canary, state)

    async def _waiting(self, canary: Canary, state: CanaryState) -> None:
        if await self._rollback_hook(canary, state):
            return
        await self._start(canary, state)

    async def _idle(self, canary: Canary, state: CanaryState) -> None:
        return None

    # ---- analysis -------------------------------------------------------------------------------
    async def _progressing(self, canary: Canary, state: CanaryState) -> None:
        if not await self._canary_ready(canary, state) or await self._rollback_hook(canary, state):
            return
        if state.promote_now:
            await self._promote(canary, state)
            return
        if not state.pre_rollout_done:
            if not await self._hooks_pass(canary, state, "pre-rollout"):
                return
            state.pre_rollout_done = True
        had_traffic = state.canary_weight > 0 or state.iterations > 0 or state.mirrored
        if had_traffic and not await self._checks(canary, state):
            return
        if _by_iterations(canary):
            await self._next_iteration(canary, state)
        else:
            await self._next_weight(canary, state)

    async def _canary_ready(self, canary: Canary, state: CanaryState) -> bool:
        if self.target.ready(canary, "canary"):
            return True
        deadline = canary.spec.progress_deadline_seconds or DEFAULT_DEADLINE_S
        if self.clock() - state.started_at > deadline:
            await self.rollback(canary, state, f"Canary {_name(canary)} progress deadline exceeded")
        else:
            state.message = f"waiting for the canary {_name(canary)} to serve"
        return False

    async def _checks(self, canary: Canary, state: CanaryState) -> bool:
        """Rollout hooks and metric checks of the interval that ended; True: advance."""
        if not await self._hooks_pass(canary, state, "rollout"):
            return False
        result = await ck.run_checks(canary, self.metrics, st.now_text(self.clock()), self.templates)
        for entry in result.entries:
            state.record(entry | {"weight": state.canary_weight, "iteration": state.iterations})
        if result.outcome == ck.FAIL:
            await self._failed_check(canary, state, result.message)
            return False
        if result.outcome == ck.NO_DATA:
            return await self._no_data(canary, state, result.message)
        state.message = ""
        return True

    async def _no_data(self, canary: Canary, state: CanaryState, message: str) -> bool:
        policy = canary.on_no_data
        if policy == "fail":
            await self._failed_check(canary, state, message)
            return False
        if policy == "hold":
            state.message = f"Halted: {message}"
            self.events(canary, state.message, False)
            return False
        state.message = f"Passed: {message}"
        return True

    async def _failed_check(self, canary: Canary, state: CanaryState, message: str) -> None:
        state.failed_checks += 1
        state.message = message
        await self._event(canary, state, message, warning=True)
        threshold = canary.spec.analysis.threshold or 1
        if state.failed_checks >= threshold:
            await self.rollback(
                canary,
                state,
                f"Rolling back {_name(canary)} failed checks threshold reached {state.failed_checks}",
            )

    async def _next_iteration(self, canary: Canary, state: CanaryState) -> None:
        if state.iterations < (canary.spec.analysis.iterations or 0):
            state.iterations += 1
            total = canary.spec.analysis.iterations
            await self._event(
                canary, state, f"Advance {_name(canary)} canary iteration {state.iterations}/{total}"
            )
            return
        await self._to_promotion(canary, state)

    async def _next_weight(self, canary: Canary, state: CanaryState) -> None:
        if canary.spec.analysis.mirror and state.canary_weight == 0 and not state.mirrored:
            state.mirrored = True  # Flagger: one mirrored step at weight 0 before the first weight
            await self._event(canary, state, f"Advance {_name(canary)} canary mirror")
            return
        following = next_weight(canary, state.canary_weight)
        if following is None:
            await self._to_promotion(canary, state)
            return
        if not await self._gate(canary, state, "confirm-traffic-increase"):
            return
        state.canary_weight = following
        await self._event(canary, state, f"Advance {_name(canary)} canary weight {following}")

    async def _to_promotion(self, canary: Canary, state: CanaryState) -> None:
        if not await self._gate(canary, state, "confirm-promotion"):
            state.move(st.WAITING_PROMOTION, self.clock())
            return
        await self._promote(canary, state)

    async def _waiting_promotion(self, canary: Canary, state: CanaryState) -> None:
        if await self._rollback_hook(canary, state):
            return
        if state.promote_now or await self._gate(canary, state, "confirm-promotion"):
            await self._promote(canary, state)

    # ---- promotion and rollback -----------------------------------------------------------------
    async def _promote(self, canary: Canary, state: CanaryState) -> None:
        state.primary_spec = state.canary_spec
        state.canary_weight, state.promote_now = 100, False
        state.move(st.PROMOTING, self.clock())
        state.message = "the primary restarts with the canary's spec; the canary serves meanwhile"
        primary = f"{canary.spec.target_ref.name}-primary.{canary.metadata.namespace}"
        await self._event(canary, state, f"Copying {_name(canary)} template spec to {primary}")

    async def _promoting(self, canary: Canary, state: CanaryState) -> None:
        if not self.target.ready(canary, "primary"):
            return
        step = canary.spec.analysis.step_weight_promotion
        state.canary_weight = max(0, state.canary_weight - step) if step else 0
        if state.canary_weight == 0:
            state.move(st.FINALISING, self.clock())
            await self._event(canary, state, "Routing all traffic to primary")

    async def _finalising(self, canary: Canary, state: CanaryState) -> None:
        state.last_promoted_spec = state.last_applied_spec
        state.iterations = 0
        state.move(st.SUCCEEDED, self.clock(), reason="Succeeded")
        state.message = "Canary analysis completed successfully, promotion finished."
        await self._event(canary, state, f"Promotion completed! Scaling down {_name(canary)}")
        await self._hooks_pass(canary, state, "post-rollout", count=False)

    async def rollback(self, canary: Canary, state: CanaryState, reason: str) -> None:
        state.canary_weight, state.promote_now = 0, False
        state.move(st.FAILED, self.clock(), reason="Failed")
        await self._event(canary, state, reason, warning=True)
        state.message = "Canary analysis failed, Workload scaled to zero."
        await self._event(canary, state, f"Canary failed! Scaling down {_name(canary)}", warning=True)
        await self.publish(canary, state)
        await self._hooks_pass(canary, state, "post-rollout", count=False)

    # ---- hooks ----------------------------------------------------------------------------------
    async def _call(
        self, canary: Canary, state: CanaryState, hook: Webhook, metadata: Any = None
    ) -> HookResult:
        body = payload(
            canary, state.phase, state.last_applied_spec, metadata if metadata is not None else hook.metadata
        )
        return await self.hooks.call(hook, body)

    async def _gate(self, canary: Canary, state: CanaryState, kind: str) -> bool:
        for hook in hooks_of(canary, kind):
            result = await self._call(canary, state, hook)
            if not result.ok:
                why = f"{kind}: {result.detail}"
                state.message = f"Halt {_name(canary)} advancement waiting for approval {hook.name} ({why})"
                self.events(canary, state.message, False)
                return False
        return True

    async def _hooks_pass(self, canary: Canary, state: CanaryState, kind: str, *, count: bool = True) -> bool:
        for hook in hooks_of(canary, kind):
            result = await self._call(canary, state, hook)
            if not result.ok:
                message = f"Halt {_name(canary)} advancement {kind} hook {hook.name} failed: {result.detail}"
                if count:
                    await self._failed_check(canary, state, message)
                else:
                    self.events(canary, message, True)
                return False
        return True

    async def _rollback_hook(self, canary: Canary, state: CanaryState) -> bool:
        for hook in hooks_of(canary, "rollback"):
            if (await self._call(canary, state, hook)).ok:
                await self.rollback(canary, state, f"Rolling back {_name(canary)} manual webhook invoked")
                return True
        return False

    async def _event(
        self, canary: Canary, state: CanaryState, message: str, *, warning: bool = False
    ) -> None:
        self.events(canary, message, warning)
        for hook in hooks_of(canary, "event"):
            await self._call(canary, state, hook, event_metadata(message, warning))


_STEPS = MappingProxyType(
    {
        st.INITIALIZING: "_initializing",
        st.WAITING: "_waiting",
        st.PROGRESSING: "_progressing",
        st.WAITING_PROMOTION: "_waiting_promotion",
        st.PROMOTING: "_promoting",
        st.FINALISING: "_finalising",
    }
)


def _name(canary: Canary) -> str:
    return f"{canary.spec.target_ref.name}.{canary.metadata.namespace}"


def _by_iterations(canary: Canary) -> bool:
    analysis = canary.spec.analysis
    return bool(analysis.iterations) and analysis.step_weight is None and not analysis.step_weights


def max_weight(canary: Canary) -> int:
    analysis = canary.spec.analysis
    if analysis.step_weights and analysis.max_weight is None:
        return analysis.step_weights[-1]
    return analysis.max_weight if analysis.max_weight is not None else 100


def next_weight(canary: Canary, current: int) -> int | None:
    """The weight after `current` (stepWeights in order, else + stepWeight, capped at maxWeight);
    None at the maximum."""
    top = max_weight(canary)
    if current >= top:
        return None
    steps = canary.spec.analysis.step_weights
    if steps:
        return min(next((w for w in steps if w > current), top), top)
    return min(current + (canary.spec.analysis.step_weight or top), top)


def routing_of(canary: Canary, state: CanaryState) -> Routing:
    runs = state.phase in st.CANARY_RUNS or state.phase == st.INITIALIZING
    analysing = state.phase in (st.PROGRESSING, st.WAITING_PROMOTION)
    matched = bool(canary.spec.analysis.match) and analysing and state.iterations > 0
    sticky = state.session_cookie if analysing and state.canary_weight > 0 else ""
    return Routing(
        state.primary_spec, runs, state.canary_weight, matched, state.phase, sticky, _mirror(canary, state)
    )


def _mirror(canary: Canary, state: CanaryState) -> int:
    """Percent of requests copied to the canary now: the mirroring step of a weighted analysis (at
    weight 0), or every iteration of one by iterations."""
    analysis = canary.spec.analysis
    if not analysis.mirror or state.phase not in (st.PROGRESSING, st.WAITING_PROMOTION):
        return 0
    active = state.iterations > 0 if _by_iterations(canary) else state.mirrored and state.canary_weight == 0
    return (analysis.mirror_weight or 100) if active else 0
