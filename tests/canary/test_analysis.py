"""The analysis state machine on fake seams (target, writer, metrics, hooks): phases, weights, failed
checks, the no-data policy and webhooks, step by step as Flagger's scheduler runs them. The
end-to-end tests (test_e2e_canary.py) run the same code with real Envoy."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from smimesh.resources import load_text
from smimesh.resources.canary import Canary, Webhook
from smimesh.runtime.canary.analysis import Analysis, next_weight
from smimesh.runtime.canary.checks import Measurement
from smimesh.runtime.canary.state import CanaryState
from smimesh.runtime.canary.target import Revision, Routing
from smimesh.runtime.canary.webhooks import HookResult


def canary(analysis: str, annotations: str = "{}") -> Canary:
    text = f"""
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: web, namespace: shop, annotations: {annotations}}}
spec:
  targetRef: {{apiVersion: smimesh.io/v1alpha1, kind: Workload, name: web}}
  service: {{port: 80}}
  analysis: {analysis}
"""
    result = load_text(text, references=False)
    assert result.ok, [d.format() for d in result.diagnostics]
    found = result.objects[0].resource
    assert isinstance(found, Canary)
    return found


WEIGHTED = (
    "{interval: 1s, threshold: 2, maxWeight: 30, stepWeight: 10, metrics: ["
    "{name: request-success-rate, thresholdRange: {min: 99}},"
    " {name: request-duration, thresholdRange: {max: 500}}]}"
)


@dataclass
class Fakes:
    checksum: str = "rev1"
    ready: dict[str, bool] = field(default_factory=lambda: {"canary": True, "primary": True})
    routings: list[Routing] = field(default_factory=list)
    measurement: Measurement = field(default_factory=lambda: Measurement(100, 100.0, 10.0))
    hook_answers: dict[str, bool] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    now: float = 1000.0

    # TargetRevisions
    def revision(self, canary: Canary) -> Revision:
        return Revision(self.checksum, {"spec": {"env": {"V": self.checksum}}})

    def problem(self, canary: Canary) -> str:
        return ""

    def is_ready(self, canary: Canary, role: str) -> bool:
        return self.ready[role]

    # SplitWriter
    async def write(self, canary: Canary, routing: Routing) -> list[Any]:
        if not self.routings or self.routings[-1] != routing:
            self.routings.append(routing)
        return []

    async def remove(self, key: Any) -> None:
        return None

    # MetricsReader
    async def measure(self, namespace: str, workload: str, window_s: float) -> Measurement:
        return self.measurement

    # Hooks
    async def call(self, hook: Webhook, body: dict[str, Any]) -> HookResult:
        self.calls.append((hook.name, body))
        ok = self.hook_answers.get(hook.name, True)
        return HookResult(ok, "status 200" if ok else "status 403")


class Target:
    def __init__(self, fakes: Fakes) -> None:
        self.f = fakes

    def revision(self, canary: Canary) -> Revision:
        return self.f.revision(canary)

    def problem(self, canary: Canary) -> str:
        return ""

    def ready(self, canary: Canary, role: str) -> bool:
        return self.f.is_ready(canary, role)


def machine(fakes: Fakes) -> Analysis:
    return Analysis(
        Target(fakes), fakes, fakes, fakes, lambda c, m, w: fakes.events.append(m), clock=lambda: fakes.now
    )


def run(analysis: Analysis, c: Canary, state: CanaryState, due: bool = True) -> None:
    asyncio.run(analysis.advance(c, state, due))


def initialized(fakes: Fakes, c: Canary) -> tuple[Analysis, CanaryState]:
    analysis, state = machine(fakes), CanaryState()
    run(analysis, c, state)
    assert (state.phase, state.canary_weight) == ("Initializing", 100)  # the target serves meanwhile
    run(analysis, c, state)
    assert (state.phase, state.canary_weight) == ("Initialized", 0)
    return analysis, state


def test_healthy_canary_steps_to_max_weight_then_promotes() -> None:
    fakes, c = Fakes(), canary(WEIGHTED)
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    weights = []
    for _ in range(8):
        run(analysis, c, state)
        weights.append((state.phase, state.canary_weight))
    assert weights[:4] == [("Progressing", 10), ("Progressing", 20), ("Progressing", 30), ("Promoting", 100)]
    assert weights[4:6] == [("Finalising", 0), ("Succeeded", 0)]
    assert state.last_promoted_spec == "rev2" and state.failed_checks == 0
    assert fakes.routings[-1].canary_runs is False and fakes.routings[-1].primary_spec == {
        "spec": {"env": {"V": "rev2"}}
    }
    assert len(state.history) == 2 * 3  # two metrics at each of the three weights
    assert state.status()["conditions"][0] | {"lastUpdateTime": "", "lastTransitionTime": ""} == {
        "type": "Promoted",
        "status": "True",
        "reason": "Succeeded",
        "message": "Canary analysis completed successfully, promotion finished.",
        "lastUpdateTime": "",
        "lastTransitionTime": "",
    }


def test_failing_canary_rolls_back_after_exactly_threshold_failed_checks() -> None:
    fakes, c = Fakes(), canary(WEIGHTED)
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)  # weight 10, no check yet
    fakes.measurement = Measurement(100, 90.0, 10.0)
    run(analysis, c, state)
    assert (state.phase, state.failed_checks, state.canary_weight) == ("Progressing", 1, 10)
    run(analysis, c, state)
    assert (state.phase, state.failed_checks, state.canary_weight) == ("Failed", 2, 0)
    assert fakes.routings[-1] == Routing({"spec": {"env": {"V": "rev1"}}}, False, 0, False, "Failed")
    assert "success rate 90.00% < 99%" in " ".join(fakes.events)


def test_latency_failure_counts_like_errors() -> None:
    fakes, c = Fakes(), canary(WEIGHTED)
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)
    fakes.measurement = Measurement(100, 100.0, 900.0)
    run(analysis, c, state)
    run(analysis, c, state)
    assert (state.phase, state.failed_checks) == ("Failed", 2)
    assert "request duration 900ms > 500ms" in " ".join(fakes.events)


@pytest.mark.parametrize(
    ("policy", "phase", "failed", "weight"),
    [("hold", "Progressing", 0, 10), ("fail", "Failed", 2, 0), ("pass", "Progressing", 0, 30)],
)
def test_no_data_is_a_policy(policy: str, phase: str, failed: int, weight: int) -> None:
    fakes = Fakes()
    c = canary(WEIGHTED, f'{{smimesh.io/on-no-data: {policy}, smimesh.io/min-requests: "20"}}')
    analysis, state = initialized(fakes, c)
    fakes.checksum, fakes.measurement = "rev2", Measurement(5, 100.0, 10.0)  # 5 < 20 requests
    for _ in range(3):
        run(analysis, c, state)
    assert (state.phase, state.failed_checks, state.canary_weight) == (phase, failed, weight)
    if policy == "hold":
        assert state.message.startswith("Halted: no data: 5 request(s)"), state.message
        assert "smimesh.io/on-no-data: hold" in state.status()["conditions"][0]["message"]


def test_default_policy_holds_an_idle_service() -> None:
    fakes, c = Fakes(), canary(WEIGHTED)
    analysis, state = initialized(fakes, c)
    fakes.checksum, fakes.measurement = "rev2", Measurement(0, None, None)
    for _ in range(5):
        run(analysis, c, state)
    assert (state.phase, state.failed_checks, state.canary_weight) == ("Progressing", 0, 10)


HOOKS = """{interval: 1s, threshold: 2, maxWeight: 20, stepWeight: 10, webhooks: [
  {name: start, type: confirm-rollout, url: "http://h/start"},
  {name: pre, type: pre-rollout, url: "http://h/pre", metadata: {cmd: test}},
  {name: load, type: rollout, url: "http://h/load"},
  {name: more, type: confirm-traffic-increase, url: "http://h/more"},
  {name: promote, type: confirm-promotion, url: "http://h/promote"},
  {name: post, type: post-rollout, url: "http://h/post"},
  {name: back, type: rollback, url: "http://h/back"},
  {name: tell, type: event, url: "http://h/event"}]}"""


def test_gates_hold_and_open() -> None:
    fakes, c = Fakes(), canary(HOOKS)
    fakes.hook_answers = {"back": False, "start": False}
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)
    assert state.phase == "Waiting" and "waiting for approval start" in state.message
    fakes.hook_answers["start"] = True
    fakes.hook_answers["more"] = False
    run(analysis, c, state)
    assert (state.phase, state.canary_weight) == ("Progressing", 0)  # the gate opened: analysis starts
    run(analysis, c, state)
    assert state.canary_weight == 0 and "waiting for approval more" in state.message
    fakes.hook_answers["more"] = True
    fakes.hook_answers["promote"] = False
    for _ in range(3):
        run(analysis, c, state)
    assert (state.phase, state.canary_weight) == ("WaitingPromotion", 20)
    fakes.hook_answers["promote"] = True
    run(analysis, c, state)
    assert state.phase == "Promoting"
    names = [name for name, _ in fakes.calls]
    assert names.count("pre") == 1 and "load" in names and "tell" in names


def test_rollback_hook_aborts_and_payload_is_flaggers() -> None:
    fakes, c = Fakes(), canary(HOOKS)
    fakes.hook_answers = {"back": False}
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)
    run(analysis, c, state)
    fakes.hook_answers["back"] = True
    run(analysis, c, state)
    assert state.phase == "Failed"
    pre = next(body for name, body in fakes.calls if name == "pre")
    assert pre == {
        "name": "web",
        "namespace": "shop",
        "phase": "Progressing",
        "checksum": "rev2",
        "metadata": {"cmd": "test"},
    }
    event = next(body for name, body in fakes.calls if name == "tell")
    assert set(event["metadata"]) == {"eventMessage", "eventType", "timestamp"}
    assert any(name == "post" for name, _ in fakes.calls)


def test_failed_pre_rollout_hook_is_a_failed_check() -> None:
    fakes, c = Fakes(), canary(HOOKS)
    fakes.hook_answers = {"back": False, "pre": False}
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)  # the first step runs as soon as the revision is noticed
    assert (state.phase, state.failed_checks, state.canary_weight) == ("Progressing", 1, 0)
    run(analysis, c, state)
    assert (state.phase, state.failed_checks) == ("Failed", 2)


def test_ab_testing_counts_iterations_with_matched_routing() -> None:
    fakes = Fakes()
    c = canary("{interval: 1s, threshold: 2, iterations: 3, match: [{headers: {x-canary: {exact: always}}}]}")
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    for _ in range(3):
        run(analysis, c, state)
    assert (state.phase, state.iterations, state.canary_weight) == ("Progressing", 3, 0)
    assert fakes.routings[-1].matched_to_canary
    run(analysis, c, state)
    assert state.phase == "Promoting"


def test_new_revision_mid_analysis_restarts_it() -> None:
    fakes, c = Fakes(), canary(WEIGHTED)
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)
    run(analysis, c, state)
    assert state.canary_weight == 20
    fakes.checksum = "rev3"
    run(analysis, c, state, due=False)  # noticed at once, not at the next interval
    assert (state.phase, state.canary_weight, state.last_applied_spec) == ("Progressing", 10, "rev3")
    assert "Restarting analysis" in " ".join(fakes.events)


def test_canary_not_ready_past_the_deadline_rolls_back() -> None:
    fakes, c = Fakes(), canary(WEIGHTED)
    analysis, state = initialized(fakes, c)
    fakes.checksum, fakes.ready["canary"] = "rev2", False
    run(analysis, c, state)
    run(analysis, c, state)
    assert state.phase == "Progressing" and "to serve" in state.message
    fakes.now += 601
    run(analysis, c, state)
    assert state.phase == "Failed" and "progress deadline exceeded" in " ".join(fakes.events)


def test_step_weights_and_their_maximum() -> None:
    c = canary("{interval: 1s, threshold: 2, stepWeights: [5, 10, 40]}")
    assert [next_weight(c, w) for w in (0, 5, 10, 40)] == [5, 10, 40, None]
    c = canary("{interval: 1s, threshold: 2, maxWeight: 25, stepWeight: 10}")
    assert [next_weight(c, w) for w in (0, 10, 20, 25)] == [10, 20, 25, None]


def test_state_survives_json() -> None:
    fakes, c = Fakes(), canary(WEIGHTED)
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)
    again = CanaryState.from_json(state.to_json())
    assert again == state


def test_session_affinity_draws_a_cookie_per_analysis_and_routes_it_while_the_canary_gets_traffic() -> None:
    fakes = Fakes()
    c = canary(
        "{interval: 1s, threshold: 2, maxWeight: 20, stepWeight: 10, sessionAffinity: {cookieName: beta}}"
    )
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)
    cookie = state.session_cookie
    assert cookie.startswith("beta=") and state.status()["sessionAffinityCookie"] == cookie
    assert fakes.routings[-1].session_cookie == cookie and fakes.routings[-1].canary_weight == 10
    for _ in range(4):
        run(analysis, c, state)
    assert state.phase in ("Finalising", "Succeeded") and fakes.routings[-1].session_cookie == ""
    fakes.checksum = "rev3"
    run(analysis, c, state)
    assert state.session_cookie not in ("", cookie)  # a new analysis, a new cookie


def test_mirroring_takes_one_copied_step_at_weight_zero_first() -> None:
    fakes = Fakes()
    c = canary("{interval: 1s, threshold: 2, maxWeight: 20, stepWeight: 10, mirror: true, mirrorWeight: 50}")
    analysis, state = initialized(fakes, c)
    fakes.checksum = "rev2"
    run(analysis, c, state)
    assert (state.canary_weight, state.mirrored, fakes.routings[-1].mirror_percent) == (0, True, 50)
    run(analysis, c, state)  # the mirrored interval is checked, then the first weight
    assert (state.canary_weight, fakes.routings[-1].mirror_percent) == (10, 0)
    assert len(state.history) == 0  # no metrics configured: the step needs none
