"""The SMI metrics queries: TrafficMetrics / TrafficMetricsList per SPEC-DIGEST §5, from any backend.

Kinds served: `pods` (workload instances), `deployments` (workloads; `workloads` is accepted too),
`namespaces` (cluster-scoped) and `services`. What each number measures:

  * a pod, deployment or namespace without an edge: the requests it received, measured by its own
    sidecars' inbound listeners (`edge: {direction: from, side: server}`);
  * a service without an edge: the requests its callers sent to it, measured by their sidecars
    (`edge: {direction: from, side: client}`);
  * edges are client-side measurements (the caller's outbound cluster names the service):
    `to` edges list where the resource's instances sent requests; `from` edges list who called it.
    The peer has the resource's kind when the destination service's instances all belong to one
    object of that kind (one pod, one workload); otherwise the peer is the Service itself, since
    a caller's sidecar cannot tell which of several workloads behind a service answered.

An edge or resource with no traffic in the window has zero counts and zero latencies (never an
error); a resource that does not exist gives None (the API turns it into a 404).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from smimesh.resources.metrics import (
    Edge,
    Metric,
    MetricsMeta,
    ObjectReference,
    TrafficMetrics,
    TrafficMetricsList,
)
from smimesh.telemetry import objects
from smimesh.telemetry.edges import Series, Topology
from smimesh.telemetry.objects import Ref, Requirement
from smimesh.telemetry.quantiles import go_duration, quantiles, quantity
from smimesh.telemetry.window import SeriesFilter, SlidingWindow, Totals

PERCENTILES = (("p99_response_latency", 0.99), ("p90_response_latency", 0.90), ("p50_response_latency", 0.50))


class Backend(Protocol):
    async def totals(
        self, window_s: float, now: float, wanted: SeriesFilter | None = None
    ) -> Mapping[Series, Totals]:
        """Totals of every series `wanted` says (all if None) over the window; idle ones with zeros."""
        ...


class BuiltinBackend:
    """The control plane's own sliding window (every known series, idle ones with zero totals)."""

    def __init__(self, window: SlidingWindow) -> None:
        self.window = window

    async def totals(
        self, window_s: float, now: float, wanted: SeriesFilter | None = None
    ) -> Mapping[Series, Totals]:
        found = self.window.totals(window_s, now, wanted)
        known = (s for s in self.window.series() if wanted is None or wanted(s))
        return {series: found.get(series, Totals()) for series in known}


class MetricsQuery:
    """Answers the metrics API from `backend`, resolving names against `topology()` at each call."""

    def __init__(
        self,
        backend: Backend,
        topology: Callable[[], Topology],
        *,
        clock: Callable[[], float] = time.time,
        max_window_s: float = 300.0,
    ) -> None:
        self.backend, self.topology, self.clock, self.max_window_s = backend, topology, clock, max_window_s

    async def get(
        self, kind: str, namespace: str | None, name: str, window_s: float
    ) -> TrafficMetrics | None:
        ref = Ref(objects.KINDS[kind], namespace, name)
        topology = self.topology()
        if ref not in objects.objects_of(kind, topology):
            return None
        now = self.clock()
        totals = await self.backend.totals(window_s, now, objects.resource_filter(kind, {ref}, topology))
        return self._resource_item(kind, ref, topology, totals, window_s, now)

    async def list(
        self, kind: str, namespace: str | None, window_s: float, selector: Sequence[Requirement] = ()
    ) -> TrafficMetricsList:
        topology = self.topology()
        refs = [
            ref
            for ref, labels in objects.objects_of(kind, topology).items()
            if (namespace is None or ref.namespace == namespace) and objects.matches(selector, labels)
        ]
        now = self.clock()
        totals = await self.backend.totals(window_s, now, objects.resource_filter(kind, set(refs), topology))
        groups = objects.group_by_resource(kind, topology, totals)
        items = [
            _item(ref, _resource_edge(kind), _sum(groups.get(ref, ())), window_s, now) for ref in sorted(refs)
        ]
        listed = ObjectReference(kind=objects.KINDS[kind], namespace=namespace)
        return TrafficMetricsList(resource=listed, selector=objects.selector_dict(selector), items=items)

    async def edges(
        self, kind: str, namespace: str | None, name: str, window_s: float
    ) -> TrafficMetricsList | None:
        ref = Ref(objects.KINDS[kind], namespace, name)
        topology = self.topology()
        if ref not in objects.objects_of(kind, topology):
            return None
        now = self.clock()
        totals = await self.backend.totals(window_s, now, objects.edge_filter(kind, ref, topology))
        groups = sorted(objects.edge_groups(kind, ref, topology, totals).items())
        items = [
            _item(
                ref,
                Edge.model_construct(direction=direction, side="client", resource=peer.reference()),
                _sum(group),
                window_s,
                now,
            )
            for (direction, peer), group in groups
        ]
        return TrafficMetricsList(resource=ref.reference(), items=items)

    def _resource_item(
        self,
        kind: str,
        ref: Ref,
        topology: Topology,
        totals: Mapping[Series, Totals],
        window_s: float,
        now: float,
    ) -> TrafficMetrics:
        groups = objects.group_by_resource(kind, topology, totals)
        return _item(ref, _resource_edge(kind), _sum(groups.get(ref, ())), window_s, now)


def _item(ref: Ref, edge: Edge, totals: Totals, window_s: float, now: float) -> TrafficMetrics:
    # model_construct: these values are built here, already valid; validating thousands of them
    # per list call was most of the API's time at 1,000 edges.
    return TrafficMetrics.model_construct(
        metadata=MetricsMeta.model_construct(name=ref.name, namespace=ref.namespace),
        resource=ref.reference(),
        edge=edge,
        timestamp=datetime.fromtimestamp(now, UTC),
        window=go_duration(window_s),
        metrics=metrics_of(totals),
    )


def metrics_of(totals: Totals) -> list[Metric]:
    """The five SMI metrics of `totals`; latencies in ms (0 when there was no request)."""
    values = quantiles(totals.bins, [q for _, q in PERCENTILES])
    latencies = [
        Metric.model_construct(name=name, unit="ms", value=quantity(value))
        for (name, _), value in zip(PERCENTILES, values, strict=True)
    ]
    return [
        *latencies,
        Metric.model_construct(name="success_count", value=quantity(totals.success)),
        Metric.model_construct(name="failure_count", value=quantity(totals.failure)),
    ]


def _resource_edge(kind: str) -> Edge:
    return Edge.model_construct(direction="from", side="client" if kind == "services" else "server")


def _sum(parts: Iterable[Totals]) -> Totals:
    total = Totals()
    for part in parts:
        total.add(part)
    return total
