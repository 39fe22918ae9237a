"""The two seams between the canary analysis and a platform, so Kubernetes can be added beside local.

`TargetRevisions` answers what the target runs now (a `Revision`: checksum + spec), whether it can
be a canary target at all (`problem`), and whether the canary or primary instances serve. A
`SplitWriter` makes the routing real: the primary copy of the promoted revision, the apex,
`-primary` and `-canary` Services and the TrafficSplit weights (`Routing`), and removes it all.
Local mode implements both in `local_target.LocalTarget` (Workloads and the resource store); a
Kubernetes implementation would read Deployments' pod templates and write the same objects through
the API server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from smimesh.diagnostics import Diagnostic
from smimesh.resources import ResourceKey
from smimesh.resources.canary import Canary


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of the target: Flagger's checksum of what it runs, and the spec to copy."""

    checksum: str
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Routing:
    """What the platform must run and route for one canary."""

    primary_spec: dict[str, Any] | None  # the promoted revision (None: nothing to run yet)
    canary_runs: bool  # the target (the canary revision) is scaled up
    canary_weight: int  # percent of the apex's traffic to `-canary`
    matched_to_canary: bool = False  # A/B: requests matching `analysis.match` go to the canary
    phase: str = ""
    session_cookie: str = ""  # `name=value`: answers from the canary set it, requests with it stay
    mirror_percent: int = 0  # a copy of this share of the apex's requests goes to the canary


class TargetRevisions(Protocol):
    def revision(self, canary: Canary) -> Revision | None:
        """The target's current revision; None when the target does not exist."""
        ...

    def problem(self, canary: Canary) -> str:
        """Why the target cannot be run as a canary ("" when it can)."""
        ...

    def ready(self, canary: Canary, role: str) -> bool:
        """Every instance of `role` ("canary" or "primary") serves."""
        ...


class SplitWriter(Protocol):
    async def write(self, canary: Canary, routing: Routing) -> list[Diagnostic]: ...

    async def remove(self, key: ResourceKey) -> None: ...
