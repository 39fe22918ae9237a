"""What a canary's analysis has reached: Flagger's status fields, and what the controller keeps.

`CanaryState.status()` is the status object exactly as Flagger writes it (`phase`, `failedChecks`,
`canaryWeight`, `iterations`, `lastAppliedSpec`, `lastPromotedSpec`, `lastTransitionTime`,
`conditions` with the `Promoted` condition), plus smimesh's `history` (each check's value against
its threshold) and `message` (why the analysis is where it is, e.g. held for lack of traffic).
The rest (the promoted Workload spec, timers, one-shot flags) is internal, persisted beside it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INITIALIZING, INITIALIZED, WAITING, PROGRESSING = "Initializing", "Initialized", "Waiting", "Progressing"
WAITING_PROMOTION, PROMOTING, FINALISING = "WaitingPromotion", "Promoting", "Finalising"
SUCCEEDED, FAILED, TERMINATING = "Succeeded", "Failed", "Terminating"
# Phases in which the canary revision runs (Flagger scales the target up for them)
CANARY_RUNS = frozenset({PROGRESSING, WAITING_PROMOTION, PROMOTING, FINALISING})
ANALYSING = frozenset({WAITING, PROGRESSING, WAITING_PROMOTION})
HISTORY_LIMIT = 50


def now_text(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CanaryState:
    """One canary's status and the controller's own bookkeeping (all JSON-able)."""

    phase: str = INITIALIZING
    failed_checks: int = 0
    canary_weight: int = 0
    iterations: int = 0
    last_applied_spec: str = ""
    last_promoted_spec: str = ""
    last_transition_time: str = ""
    condition_status: str = "Unknown"
    condition_reason: str = "Initializing"
    message: str = ""
    history: list[dict[str, Any]] = field(default_factory=list)
    # internal
    primary_spec: dict[str, Any] | None = None  # the promoted Workload (what `-primary` runs)
    canary_spec: dict[str, Any] | None = None  # the revision under analysis
    started_at: float = 0.0  # wall time the revision's analysis started (progress deadline)
    pre_rollout_done: bool = False
    paused: bool = False
    promote_now: bool = False  # `smimesh canary promote`: skip what is left of the analysis
    session_cookie: str = ""  # `name=value` of this analysis's session affinity cookie
    mirrored: bool = False  # the mirroring step (weight 0, a copy of each request) was taken

    def status(self) -> dict[str, Any]:
        """The status object as Flagger writes it, with smimesh's `message` and `history`."""
        condition = {
            "type": "Promoted",
            "status": self.condition_status,
            "reason": self.condition_reason,
            "message": self.message,
            "lastUpdateTime": self.last_transition_time,
            "lastTransitionTime": self.last_transition_time,
        }
        return {
            "phase": self.phase,
            "failedChecks": self.failed_checks,
            "canaryWeight": self.canary_weight,
            "iterations": self.iterations,
            "lastAppliedSpec": self.last_applied_spec,
            "lastPromotedSpec": self.last_promoted_spec,
            "lastTransitionTime": self.last_transition_time,
            "conditions": [condition],
            "trackedConfigs": {},
            **({"sessionAffinityCookie": self.session_cookie} if self.session_cookie else {}),
            "message": self.message,
            "paused": self.paused,
            "mirrored": self.mirrored,
            "history": list(self.history),
        }

    def fingerprint(self) -> tuple[Any, ...]:
        """Cheap "did anything change" key (asdict copies everything; a pass compares twice per
        canary). Specs and history entries are replaced, never mutated: the key holds the objects
        themselves, so an unchanged one compares by identity (tuple comparison checks `is` first) and
        a replaced one cannot be mistaken for it (an id() could be reused once the old object is freed)."""
        scalars = tuple(getattr(self, f.name) for f in _SCALARS)
        last = self.history[-1] if self.history else None
        return (*scalars, len(self.history), last, self.primary_spec, self.canary_spec)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CanaryState:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def move(self, phase: str, wall: float, *, reason: str | None = None, status: str | None = None) -> None:
        """Enter `phase` (Flagger's condition follows: Unknown while analysing, True/False at the end)."""
        if phase != self.phase:
            self.last_transition_time = now_text(wall)
        self.phase = phase
        self.condition_reason = reason or phase
        self.condition_status = status or _condition_status(phase)

    def record(self, entry: dict[str, Any]) -> None:
        self.history.append(entry)
        del self.history[:-HISTORY_LIMIT]


_SCALARS = tuple(
    f for f in dataclasses.fields(CanaryState) if f.name not in ("history", "primary_spec", "canary_spec")
)


def _condition_status(phase: str) -> str:
    if phase in (INITIALIZED, SUCCEEDED):
        return "True"
    if phase == FAILED:
        return "False"
    return "Unknown"
