"""Traffic metrics by TrafficSplit (`trafficsplits`, issue 14): the root and each backend.

A split's numbers are client-side: what callers' sidecars sent to its backend Services (each
backend's outbound cluster names the Service, `edges.Series(OUTBOUND, ..., "ns/backend")`). The
root item is the sum over the backends; `/edges` has one item per backend (`direction: to`, the
backend Service as peer). A caller that addresses a backend Service directly (a load test on
`web-canary`) counts too: a sidecar's cluster stats cannot tell who named the root. This is what a
canary analysis reads, by the same windows as every other kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from smimesh.mesh.model import ServiceKey
from smimesh.telemetry.edges import OUTBOUND, Series, Topology
from smimesh.telemetry.objects import Ref
from smimesh.telemetry.window import Totals

KIND = "TrafficSplit"


def refs(topology: Topology, namespace: str | None) -> list[Ref]:
    return sorted(Ref(KIND, ns, name) for ns, name in topology.splits if namespace in (None, ns))


def backends_of(topology: Topology, ref: Ref) -> tuple[ServiceKey, ...]:
    return topology.splits.get((ref.namespace or "", ref.name), (None, ()))[1]


def wanted(topology: Topology, chosen: Iterable[Ref]) -> set[str]:
    """The `ns/service` targets of the chosen splits' backends (the series to sum)."""
    return {f"{key.namespace}/{key.name}" for ref in chosen for key in backends_of(topology, ref)}


def per_backend(totals: Mapping[Series, Totals]) -> dict[str, Totals]:
    """Client-side totals per `ns/service` target."""
    found: dict[str, Totals] = {}
    for series, total in totals.items():
        if series.direction == OUTBOUND:
            found.setdefault(series.target, Totals()).add(total)
    return found
