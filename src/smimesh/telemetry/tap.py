"""`smimesh tap`: live requests of a workload, to whoever listens, and only while someone listens.

Owns `TapFilter` (which requests a listener wants), `Subscription` (its bounded queue) and `TapHub`
(who listens to which workload). The hub does not read logs or talk to sidecars: the runtime's loop
feeds it the request events it read (`publish`) and asks it which workloads are tapped
(`tapped_workloads`) to switch those sidecars' request logs on, and the others off.

Bounded in memory: each subscription keeps at most `max_queue` events; when a listener is slower
than the traffic the oldest events are dropped and counted (`Subscription.dropped`), never queued
without limit.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from dataclasses import dataclass, field

from smimesh.telemetry.requests import RequestEvent

MAX_QUEUE = 1000


@dataclass(frozen=True, slots=True)
class TapFilter:
    """A listener's wish: the requests through the sidecars of `namespace/workload`, optionally only
    outbound ones to service `to` (by the Host asked or the backend that answered) and only paths
    matching `path` (a regular expression searched in the path)."""

    namespace: str
    workload: str
    to: str = ""
    path: re.Pattern[str] | None = None

    def accepts(self, event: RequestEvent, workload_of: tuple[str, str] | None) -> bool:
        if workload_of != (self.namespace, self.workload):
            return False
        if self.to and not (event.direction == "outbound" and self._is_to(event)):
            return False
        return self.path is None or self.path.search(event.path) is not None

    def _is_to(self, event: RequestEvent) -> bool:
        host = event.authority.split(":")[0]
        name, _, rest = self.to.partition(".")
        namespace = rest.split(".")[0] if rest else ""
        asked = host.split(".")
        backend_ns, _, backend = event.backend.partition("/")
        if backend == name and namespace in ("", backend_ns):
            return True
        return asked[0] == name and (not namespace or (len(asked) > 1 and asked[1] == namespace))


@dataclass(eq=False)
class Subscription:
    filter: TapFilter
    max_queue: int = MAX_QUEUE
    dropped: int = 0
    events: deque[RequestEvent] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, event: RequestEvent) -> None:
        if len(self.events) >= self.max_queue:
            self.events.popleft()
            self.dropped += 1
        self.events.append(event)
        self.ready.set()

    async def take(self, timeout_s: float) -> list[RequestEvent]:
        """The events queued so far (waits up to `timeout_s` for the first one; [] on timeout)."""
        if not self.events:
            self.ready.clear()
            try:
                await asyncio.wait_for(self.ready.wait(), timeout_s)
            except TimeoutError:
                return []
        taken = list(self.events)
        self.events.clear()
        return taken


class TapHub:
    """Listeners by workload; `publish` hands each one the events its filter accepts."""

    def __init__(self, max_queue: int = MAX_QUEUE) -> None:
        self.max_queue = max_queue
        self._subscriptions: list[Subscription] = []

    def subscribe(self, tap: TapFilter) -> Subscription:
        subscription = Subscription(tap, self.max_queue)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def tapped_workloads(self) -> set[tuple[str, str]]:
        return {(s.filter.namespace, s.filter.workload) for s in self._subscriptions}

    def publish(self, events: list[RequestEvent], workload_of: dict[str, tuple[str, str]]) -> None:
        for subscription in self._subscriptions:
            for event in events:
                if subscription.filter.accepts(event, workload_of.get(event.node_id)):
                    subscription.put(event)
