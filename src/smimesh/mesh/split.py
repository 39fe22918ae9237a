"""TrafficSplits resolved per root service port (SPEC-DIGEST §4.6 and §8 A9–A14).

Owns `WeightedBackend`, `SplitRoute` and `PortSplits`: for one root service port, the conditional
splits (v1alpha4 `matches`, evaluated first, oldest first) and at most one unconditional split.
A backend that does not exist or lacks the root's port is already dropped here (with a diagnostic
from `build.py`); `SplitRoute.all_zero` marks a split whose remaining weights sum to 0, which the
generators answer with a 503 saying so (A9). A root listed as its own backend stands for the root's
own endpoints (A10), never for the split again.
"""

from __future__ import annotations

from dataclasses import dataclass

from smimesh.mesh.model import HttpMatch, ServiceKey


@dataclass(frozen=True, slots=True, order=True)
class WeightedBackend:
    service: ServiceKey
    port: int
    weight: int
    is_root: bool = False
    # A Set-Cookie the caller's sidecar adds to answers from this backend (session affinity of a
    # canary, issue 14: the TrafficSplit annotation `smimesh.io/set-cookie`, see build_splits).
    set_cookie: str = ""


@dataclass(frozen=True, slots=True)
class SplitRoute:
    """One TrafficSplit as it applies to one root port."""

    namespace: str
    name: str
    backends: tuple[WeightedBackend, ...]
    matches: tuple[HttpMatch, ...] = ()
    kind: str = "TrafficSplit"  # or "HTTPRoute" (Gateway API input, `build_routes.py`)
    # A copy of each request also goes to this backend (`weight` = percent of requests), its answer
    # dropped: a canary's mirroring step (TrafficSplit annotation `smimesh.io/mirror`, issue 14).
    mirror: WeightedBackend | None = None

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def total_weight(self) -> int:
        return sum(b.weight for b in self.backends)

    @property
    def all_zero(self) -> bool:
        return self.total_weight <= 0

    @property
    def live_backends(self) -> tuple[WeightedBackend, ...]:
        return tuple(b for b in self.backends if b.weight > 0)

    def zero_weight_message(self, root: ServiceKey, port: int) -> str:
        return (
            f"smimesh: {self.ref} sends no traffic to {root.name}.{root.namespace}:{port}: every "
            "backend that exists and has this port has weight 0. Raise a backend's weight to route "
            "requests.\n"
        )


@dataclass(frozen=True, slots=True)
class PortSplits:
    """Everything that splits requests for one root service port, in evaluation order."""

    root: ServiceKey
    port: int
    conditional: tuple[SplitRoute, ...] = ()
    unconditional: SplitRoute | None = None
    # Gateway API: a request no rule of an attached HTTPRoute matches gets 404 (SMI: the root itself).
    reject_unmatched: bool = False

    def no_match_message(self) -> str:
        refs = ", ".join(dict.fromkeys(r.ref for r in self.routes))
        return (
            f"smimesh: no rule of {refs} matches this request for {self.root.name}.{self.root.namespace}:"
            f"{self.port} (Gateway API answers 404 when no rule of a route attached to a Service matches).\n"
        )

    @property
    def routes(self) -> tuple[SplitRoute, ...]:
        tail = (self.unconditional,) if self.unconditional else ()
        return self.conditional + tail

    @property
    def backend_services(self) -> frozenset[ServiceKey]:
        return frozenset(b.service for r in self.routes for b in r.backends)
