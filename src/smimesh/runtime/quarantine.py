"""Holding back the objects whose Envoy config cannot be generated, so one bad object never stops the mesh.

Owns `Quarantine`: the resources in force at the end of the last pass that generated every
sidecar's config (`last_good`), and the objects held back (key -> the version that failed). The
pipeline builds from `effective(store_snapshot)`: a held-back object is replaced by its last good
version, or left out when it has none, for as long as the store holds the version that failed (an
edit or a delete releases it and it is tried again). When a sidecar's config fails to generate,
`find_culprits` looks for the objects to blame among those changed since `last_good`, by trial
builds that revert some of them: a binary search per culprit, so a failure among n changed objects
costs about log2(n) trial builds (in `_BLAME_ORDER`: at start-up, when every object is new, the
first object whose reverting cures is blamed, and a split comes before the Services it names). A
failure that no reverted change cures (one sidecar's own bug) is not blamed on an object: that
sidecar alone keeps its last good config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from smimesh.resources import InputSnapshot, ResourceKey

Trial = Callable[[InputSnapshot], bool]  # True when the failing sidecar's config generates from it


@dataclass(slots=True)
class Quarantine:
    last_good: InputSnapshot = field(default_factory=InputSnapshot)
    held: dict[ResourceKey, Any] = field(default_factory=dict)  # key -> the version that failed
    reasons: dict[ResourceKey, str] = field(default_factory=dict)

    def effective(self, snapshot: InputSnapshot) -> InputSnapshot:
        """`snapshot` with every held-back object at its last good version (or left out)."""
        for key in [k for k, bad in self.held.items() if snapshot.get(k) != bad]:
            del self.held[key]  # edited or deleted since it failed: try what is there now
            self.reasons.pop(key, None)
        return self._reverted(snapshot, self.held)

    def _reverted(self, snapshot: InputSnapshot, keys: Iterable[ResourceKey]) -> InputSnapshot:
        keys = list(keys)
        if not keys:
            return snapshot
        good = [r for r in (self.last_good.get(k) for k in keys) if r is not None]
        locations = {r.key: self.last_good.location(r.key) for r in good}
        return snapshot.without(keys).with_resources(good, locations)

    def remember_good(self, effective: InputSnapshot) -> None:
        """Every sidecar's config generated from `effective`: it is the new last good state."""
        self.last_good = effective

    def find_culprits(self, snapshot: InputSnapshot, works: Trial) -> list[ResourceKey]:
        """The changed objects whose reverting makes `works` pass (empty: none to blame)."""
        changed = [k for k in _changed(self.last_good, snapshot) if k not in self.held]
        if not changed or not works(self._reverted(snapshot, changed)):
            return []
        culprits: list[ResourceKey] = []
        while not works(self._reverted(snapshot, culprits)):
            remaining = [k for k in changed if k not in culprits]
            culprits.append(remaining[self._first_curing(snapshot, culprits, remaining, works)])
        return culprits

    def _first_curing(
        self, snapshot: InputSnapshot, culprits: list[ResourceKey], remaining: list[ResourceKey], works: Trial
    ) -> int:
        """The least i such that reverting culprits + remaining[:i+1] works (reverting all of them does)."""
        low, high = 0, len(remaining) - 1
        while low < high:
            middle = (low + high) // 2
            if works(self._reverted(snapshot, [*culprits, *remaining[: middle + 1]])):
                high = middle
            else:
                low = middle + 1
        return low

    def hold(self, snapshot: InputSnapshot, keys: Iterable[ResourceKey], reason: str) -> None:
        for key in keys:
            self.held[key] = snapshot.get(key)
            self.reasons[key] = reason


# Objects that refer to others are tried first: reverting a Service also silences every split and
# policy that names it, so trying it first would blame the Service for its split's fault.
_BLAME_ORDER = ("TrafficSplit", "TrafficTarget", "HTTPRouteGroup", "TCPRoute", "UDPRoute", "Service")


def _blame_rank(key: ResourceKey) -> tuple[int, ResourceKey]:
    rank = _BLAME_ORDER.index(key.kind) if key.kind in _BLAME_ORDER else len(_BLAME_ORDER)
    return rank, key


def _changed(before: InputSnapshot, after: InputSnapshot) -> list[ResourceKey]:
    """Keys added, removed or changed between two snapshots (a removal can be held back too), in
    the order they are tried."""
    keys = set(before.keys()) | set(after.keys())
    return sorted((k for k in keys if before.get(k) != after.get(k)), key=_blame_rank)
