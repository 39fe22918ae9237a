"""Seeing the mesh's requests: `smimesh tap`, per-route metrics, observed calls, `policy suggest`.

Owns `Observatory`, which the runtime starts beside telemetry and hands to the API (`observe=`):

- `run()`: every `POLL_S` it takes the request records the sidecars logged since the last time from
  its `RequestSource` (`runtime/request_sources.py`: log files under `smimesh up`, records sent over
  gRPC in a cluster), feeds the inbound requests and the denials at the caller (attributed to their
  service: `telemetry.caller_denials`) to `Observations` and every request to the tap listeners
  (`TapHub`), and has the source switch the request log of exactly the tapped workloads' sidecars on
  (`xds/access_log.py`), and off again when their last listener leaves;
- `tap(...)`: an async iterator of event batches for one listener;
- `routes(...)`: per-route metrics and denial counts (`telemetry.routes.RouteQuery`);
- `graph(window_s, namespace)` / `graph_stream(...)`: the dashboard's topology (`telemetry.graph`),
  pushed when it changes;
- `suggest(namespace, window_s)`: the observed calls into a namespace and the SMI objects that
  would allow exactly them (`mesh.suggest`), with notes on what could not be used.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from smimesh.identity.spiffe import SpiffeId
from smimesh.mesh.model import Identity, MeshModel
from smimesh.mesh.suggest import ObservedCall, suggest
from smimesh.runtime.request_sources import RequestSource
from smimesh.telemetry.caller_denials import attribute
from smimesh.telemetry.edges import OUTBOUND
from smimesh.telemetry.graph import build_graph
from smimesh.telemetry.observations import Call, Observations, caller_denials
from smimesh.telemetry.query import Backend
from smimesh.telemetry.requests import RequestEvent
from smimesh.telemetry.tap import TapFilter, TapHub

POLL_S = 0.2
HEARTBEAT_S = 5.0
GRAPH_PUSH_S = 1.0
SPLIT_HISTORY = 20


class Observatory:
    def __init__(
        self,
        model: Callable[[], MeshModel | None],
        source: RequestSource,
        routes: Any,
        backend: Backend | None = None,
    ) -> None:
        self.model, self.source, self.route_query = model, source, routes
        self.backend = backend  # the metrics window the dashboard's graph reads (telemetry.query)
        self.hub = TapHub()
        self.observations = Observations()
        # (window, namespace) -> (when, graph): pages open on the same view share one computation
        self._graphs: dict[tuple[float, str | None], tuple[float, dict[str, Any]]] = {}
        self._model_seen: MeshModel | None = None
        # split ref -> its last SPLIT_HISTORY weight sets with when they took effect (the page's history)
        self.split_history: dict[str, deque[dict[str, Any]]] = {}

    # ---- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                self.poll()
                await self._switch_taps()
                await asyncio.sleep(POLL_S)
        finally:
            await self.source.close()

    def poll(self) -> None:
        model = self.model()
        if model is None:
            return
        if model is not self._model_seen:
            self._model_seen = model
            self._record_splits(model)
        events = self.source.read(model)
        if events:
            events = self._attributed(model, events)
            self.observations.add(events)
            workloads = {n: (i.namespace, i.workload) for n, i in model.instances.items()}
            self.hub.publish(events, workloads)

    def _attributed(self, model: MeshModel, events: list[RequestEvent]) -> list[RequestEvent]:
        """Denials at the caller named by service and observed as calls (`telemetry.caller_denials`)."""
        found = []
        for event in events:
            described, call = attribute(model, event)
            if call is not None:
                self.observations.add_call(call, event.time)
            found.append(described)
        return found

    def _record_splits(self, model: MeshModel) -> None:
        for splits in model.splits.values():
            for route in splits.routes:
                weights = {str(b.service): b.weight for b in route.backends}
                history = self.split_history.setdefault(route.ref, deque(maxlen=SPLIT_HISTORY))
                if not history or history[-1]["weights"] != weights:
                    history.append({"time": time.time(), "weights": weights})

    async def _switch_taps(self) -> None:
        model = self.model()
        if model is None:
            return
        tapped = self.hub.tapped_workloads()
        wanted = {n for n, i in model.instances.items() if (i.namespace, i.workload) in tapped}
        await self.source.switch(model, wanted)

    # ---- what the API asks ----------------------------------------------------------------------

    async def tap(self, namespace: str, workload: str, to: str, path: str) -> AsyncIterator[dict[str, Any]]:
        """Batches for one listener: `{"events": [...], "dropped": n}` (empty ones are heartbeats)."""
        tap = TapFilter(namespace, workload, to, re.compile(path) if path else None)
        subscription = self.hub.subscribe(tap)
        try:
            yield {"events": [], "dropped": 0}  # at once: the listener knows it is listening
            while True:
                events = await subscription.take(HEARTBEAT_S)
                model = self.model()
                yield {
                    "events": [_described(e.to_dict(), model) for e in events],
                    "dropped": subscription.dropped,
                }
        finally:
            self.hub.unsubscribe(subscription)

    async def routes(self, kind: str, namespace: str | None, name: str, window_s: float) -> Any:
        at_callers = caller_denials(self.observations.seen(window_s, time.time()))
        return await self.route_query.routes(kind, namespace, name, window_s, at_callers)

    def observed(self, window_s: float, namespace: str | None = None) -> list[dict[str, Any]]:
        """Observed inbound calls (in `namespace`, or all), with the workloads on both ends."""
        model = self.model()
        rows = []
        for call, count in sorted(self.observations.seen(window_s, time.time()).items()):
            row = _call_row(call, count, model)
            if row is not None and namespace in (None, row["namespace"]):
                rows.append(row)
        return rows

    async def graph(self, window_s: float, namespace: str | None = None) -> dict[str, Any]:
        """The dashboard's topology (`telemetry.graph`) over the last `window_s` seconds."""
        cached = self._graphs.get((window_s, namespace))
        if cached is not None and time.monotonic() - cached[0] < GRAPH_PUSH_S / 2:
            return cached[1]
        model = self.model()
        if model is None or self.backend is None:
            return {"window_s": window_s, "namespaces": [], "nodes": [], "edges": []}
        now = time.time()
        totals = await self.backend.totals(window_s, now, lambda s: s.direction == OUTBOUND)
        seen = self.observations.seen(window_s, now)
        denied = [(c.source, c.node_id, n) for c, n in seen.items() if c.verdict == "denied"]
        audited = [(c.source, c.node_id, n) for c, n in seen.items() if c.verdict == "audit-denied"]
        graph = build_graph(model, totals, window_s, denied, namespace, audited)
        graph["diagnostics"] = [d.to_dict() for d in model.diagnostics]
        graph["split_history"] = {ref: list(h) for ref, h in self.split_history.items()}
        if len(self._graphs) > 16:  # bounded: a handful of (window, namespace) views at a time
            self._graphs.clear()
        self._graphs[(window_s, namespace)] = (time.monotonic(), graph)
        return graph

    async def graph_stream(
        self, window_s: float, namespace: str | None
    ) -> AsyncIterator[dict[str, Any] | None]:
        """The graph whenever it changed (checked every second); None every `HEARTBEAT_S` otherwise."""
        last, quiet_since = "", time.monotonic()
        while True:
            graph = await self.graph(window_s, namespace)
            text = json.dumps(graph, sort_keys=True)
            if text != last:
                last, quiet_since = text, time.monotonic()
                yield graph
            elif time.monotonic() - quiet_since >= HEARTBEAT_S:
                quiet_since = time.monotonic()
                yield None
            await asyncio.sleep(GRAPH_PUSH_S)

    def suggest(self, namespace: str | None, window_s: float) -> dict[str, Any]:
        rows = self.observed(window_s, namespace)
        calls, notes = [], []
        for row in rows:
            source = _identity(row["source"])
            if source is None:
                what = f"{row['method']} {row['path']}" if row["protocol"] == "http" else "a connection"
                notes.append(
                    f"{what} to {row['workload']} port {row['port']}: the caller had no certificate "
                    "(plaintext under permissive mTLS); no identity to allow"
                )
                continue
            destination = Identity(row["namespace"], row["service_account"])
            calls.append(
                ObservedCall(
                    source, destination, row["method"], row["path"], row["container_port"], row["protocol"]
                )
            )
        return {"window_s": window_s, "observed": rows, "documents": suggest(calls), "notes": notes}


def _identity(uri: str) -> Identity | None:
    try:
        spiffe = SpiffeId.parse(uri)
    except ValueError:
        return None
    return Identity(spiffe.namespace, spiffe.service_account)


def _call_row(call: Call, count: float, model: MeshModel | None) -> dict[str, Any] | None:
    instance = model.instances.get(call.node_id) if model else None
    if instance is None:
        return None
    source = _identity(call.source)
    return {
        "source": call.source,
        "source_namespace": source.namespace if source else "",
        "source_service_account": source.service_account if source else "",
        "namespace": instance.namespace,
        "workload": instance.workload,
        "service_account": instance.service_account,
        "port": call.port,
        "container_port": next((p.container_port for p in instance.inbound if p.name == call.port), 0),
        "protocol": "http" if call.method else "tcp",
        "method": call.method,
        "path": call.path,
        "verdict": call.verdict,
        "denied_at": "caller" if call.at_caller else ("destination" if call.verdict == "denied" else ""),
        "count": int(count),
    }


def _described(event: dict[str, Any], model: MeshModel | None) -> dict[str, Any]:
    instance = model.instances.get(event["node_id"]) if model else None
    if instance is not None:
        event.update(namespace=instance.namespace, workload=instance.workload, instance=instance.name)
    return event
