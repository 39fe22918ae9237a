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

import functools
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
from smimesh.telemetry import splits as split_metrics
from smimesh.telemetry.edges import Series, Topology
from smimesh.telemetry.objects import Ref, Requirement
from smimesh.telemetry.quantiles import go_duration, quantiles, quantity
from smimesh.telemetry.window import SeriesFilter, SlidingWindow, Totals

SPLITS = "trafficsplits"  # issue 14: the root and each backend of a TrafficSplit (telemetry/splits.py)
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
        if kind == SPLITS:
            found = await self._splits(namespace, window_s, name)
            return found.items[0] if found.items else None
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
        if kind == SPLITS:
            return await self._splits(namespace, window_s)
        topology = self.topology()
        refs = [
            ref
            for ref, labels in objects.objects_of(kind, topology).items()
            if (namespace is None or ref.namespace == namespace) and objects.matches(selector, labels)
        ]
        now = self.clock()
        totals = await self.backend.totals(window_s, now, objects.resource_filter(kind, set(refs), topology))
        groups = objects.group_by_resource(kind, topology, totals)
        stamp = _Stamp.of(window_s, now)  # one timestamp and window string for every item
        edge = _resource_edge(kind)
        items = [_item(ref, edge, _sum(groups.get(ref, ())), stamp) for ref in sorted(refs)]
        listed = ObjectReference(kind=objects.KINDS[kind], namespace=namespace)
        return TrafficMetricsList(resource=listed, selector=objects.selector_dict(selector), items=items)

    async def edges(
        self, kind: str, namespace: str | None, name: str, window_s: float
    ) -> TrafficMetricsList | None:
        if kind == SPLITS:
            return await self._split_backends(namespace, name, window_s)
        ref = Ref(objects.KINDS[kind], namespace, name)
        topology = self.topology()
        if ref not in objects.objects_of(kind, topology):
            return None
        now = self.clock()
        totals = await self.backend.totals(window_s, now, objects.edge_filter(kind, ref, topology))
        groups = sorted(objects.edge_groups(kind, ref, topology, totals).items())
        stamp = _Stamp.of(window_s, now)
        items = [
            _item(ref, _client_edge(direction, peer), _sum(group), stamp)
            for (direction, peer), group in groups
        ]
        return TrafficMetricsList(resource=ref.reference(), items=items)

    async def _splits(
        self, namespace: str | None, window_s: float, name: str | None = None
    ) -> TrafficMetricsList:
        """Each TrafficSplit's root: the sum over its backends (telemetry/splits.py)."""
        topology, now = self.topology(), self.clock()
        refs = [r for r in split_metrics.refs(topology, namespace) if name in (None, r.name)]
        targets = split_metrics.wanted(topology, refs)
        totals = await self.backend.totals(window_s, now, lambda s: s.target in targets)
        sent, stamp = split_metrics.per_backend(totals), _Stamp.of(window_s, now)
        items = [
            _item(
                ref,
                _resource_edge("services"),
                _sum(
                    sent.get(f"{k.namespace}/{k.name}", Totals())
                    for k in split_metrics.backends_of(topology, ref)
                ),
                stamp,
            )
            for ref in refs
        ]
        return TrafficMetricsList(
            resource=ObjectReference(kind=split_metrics.KIND, namespace=namespace), items=items
        )

    async def _split_backends(
        self, namespace: str | None, name: str, window_s: float
    ) -> TrafficMetricsList | None:
        """One item per backend of the split: what callers sent to it (edge `to` the backend Service)."""
        topology, now, ref = self.topology(), self.clock(), Ref(split_metrics.KIND, namespace, name)
        backends = split_metrics.backends_of(topology, ref)
        if not backends:
            return None
        targets = split_metrics.wanted(topology, [ref])
        sent = split_metrics.per_backend(
            await self.backend.totals(window_s, now, lambda s: s.target in targets)
        )
        stamp = _Stamp.of(window_s, now)
        items = [
            _item(
                ref,
                _client_edge("to", Ref("Service", k.namespace, k.name)),
                sent.get(f"{k.namespace}/{k.name}", Totals()),
                stamp,
            )
            for k in backends
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
        return _item(ref, _resource_edge(kind), _sum(groups.get(ref, ())), _Stamp.of(window_s, now))


# Building the answer was most of a list call's time at 1,000 edges (nine pydantic models per
# item). model_construct: these values are built here, already valid, so they are not validated.
# The models are frozen, so the parts that repeat (a resource's reference and metadata, an edge,
# a metric with a given value: idle edges and round counts repeat a lot) are built once and shared
# through small bounded caches; each call then allocates little, which also keeps the cyclic GC
# (its collections are triggered by allocations) out of the API's tail latency.
_CACHE_SIZE = 4096


class _Stamp(tuple[datetime, str]):
    """When and over what window a query's items were measured (the same for every item)."""

    @classmethod
    def of(cls, window_s: float, now: float) -> _Stamp:
        return cls((datetime.fromtimestamp(now, UTC), go_duration(window_s)))


def _item(ref: Ref, edge: Edge, totals: Totals, stamp: _Stamp) -> TrafficMetrics:
    return TrafficMetrics.model_construct(
        metadata=_meta(ref),
        resource=_reference(ref),
        edge=edge,
        timestamp=stamp[0],
        window=stamp[1],
        metrics=metrics_of(totals),
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _meta(ref: Ref) -> MetricsMeta:
    return MetricsMeta.model_construct(name=ref.name, namespace=ref.namespace)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _reference(ref: Ref) -> ObjectReference:
    return ref.reference()


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _client_edge(direction: str, peer: Ref) -> Edge:
    return Edge.model_construct(direction=direction, side="client", resource=_reference(peer))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _metric(name: str, unit: str | None, value: str) -> Metric:
    return Metric.model_construct(name=name, unit=unit, value=value)


def metrics_of(totals: Totals) -> list[Metric]:
    """The five SMI metrics of `totals`; latencies in ms (0 when there was no request)."""
    values = quantiles(totals.bins, [q for _, q in PERCENTILES])
    latencies = [
        _metric(name, "ms", quantity(value)) for (name, _), value in zip(PERCENTILES, values, strict=True)
    ]
    return [
        *latencies,
        _metric("success_count", None, quantity(totals.success)),
        _metric("failure_count", None, quantity(totals.failure)),
    ]


@functools.lru_cache(maxsize=8)
def _resource_edge(kind: str) -> Edge:
    return Edge.model_construct(direction="from", side="client" if kind == "services" else "server")


def _sum(parts: Iterable[Totals]) -> Totals:
    total = Totals()
    for part in parts:
        total.add(part)
    return total
