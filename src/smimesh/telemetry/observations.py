"""What the destination sidecars saw come in: distinct calls with recent counts, for `policy suggest`
and the denied edges of the dashboard.

Owns `Call` (who called which instance's port with what, and the verdict) and `Observations`, a
bounded store fed with the inbound request events the runtime reads (denials always, every request
of an audit port, tapped requests; `xds/access_log.py`) and with the denials at the caller
(`add_call`, attributed by `telemetry.caller_denials`). Per call it keeps counts in `slot_s`
slots for `max_age_s`; at most `max_calls` distinct calls are kept (the least recently seen go
first), so memory is bounded whatever the traffic (paths are part of a call: a client walking
random paths fills the store, it does not grow it).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from smimesh.telemetry.requests import RequestEvent

MAX_CALLS = 10_000
MAX_AGE_S = 3600.0
SLOT_S = 10.0


@dataclass(frozen=True, slots=True, order=True)
class Call:
    source: str  # the caller's SPIFFE id ("" when it came without a certificate)
    node_id: str  # the destination instance
    port: str
    method: str  # "" for a TCP connection
    path: str  # without the query string ("" for a TCP connection)
    verdict: str  # allowed | denied | audit-denied
    at_caller: bool = False  # denied by the caller's own sidecar (telemetry/caller_denials.py)


class Observations:
    def __init__(
        self, max_calls: int = MAX_CALLS, max_age_s: float = MAX_AGE_S, slot_s: float = SLOT_S
    ) -> None:
        self.max_calls, self.max_age_s, self.slot_s = max_calls, max_age_s, slot_s
        self._calls: OrderedDict[Call, deque[list[float]]] = OrderedDict()  # call -> [slot start, count]

    def add(self, events: list[RequestEvent]) -> None:
        for event in events:
            if event.direction == "inbound":
                self._count(_call(event), event.time)

    def add_call(self, call: Call, at: float) -> None:
        """A call seen elsewhere than at its destination (a denial at the caller)."""
        self._count(call, at)

    def _count(self, call: Call, at: float) -> None:
        slots = self._calls.pop(call, None) or deque()
        start = at - at % self.slot_s
        if slots and slots[-1][0] == start:
            slots[-1][1] += 1
        else:
            slots.append([start, 1.0])
        while slots and slots[0][0] < at - self.max_age_s:
            slots.popleft()
        self._calls[call] = slots  # most recently seen last
        while len(self._calls) > self.max_calls:
            self._calls.popitem(last=False)

    def seen(self, window_s: float, now: float) -> dict[Call, float]:
        """Every call seen in the last `window_s` seconds, with its count there."""
        since = now - window_s
        found: dict[Call, float] = {}
        for call, slots in self._calls.items():
            count = sum(n for start, n in slots if start + self.slot_s > since)
            if count:
                found[call] = count
        return found


def caller_denials(seen: dict[Call, float]) -> dict[str, float]:
    """Denials at the caller per destination instance (node id), from `Observations.seen`."""
    found: dict[str, float] = {}
    for call, count in seen.items():
        if call.at_caller:
            found[call.node_id] = found.get(call.node_id, 0.0) + count
    return found


def _call(event: RequestEvent) -> Call:
    path = event.path.split("?", 1)[0] or ("/" if event.protocol == "http" else "")
    return Call(event.peer, event.node_id, event.port, event.method, path, event.verdict)
