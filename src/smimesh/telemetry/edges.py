"""Attribution: which stat of which sidecar measures which edge of the mesh.

A series is one stream of request outcomes measured at one place:

  * `Series(OUTBOUND, instance, "ns/service")` — requests the instance sent to a service,
    measured by its own sidecar (client side), from the outbound cluster's stats. The cluster name
    is parsed back with `xds.names.parse_outbound_cluster`, never guessed; ports of one service
    add up into one edge.
  * `Series(INBOUND, instance, port_name)` — requests the instance received on one Workload port,
    measured by its sidecar's inbound listener (server side); the caller is not known there.

Success is every response below 500, failure every 5xx — including the 503 that Envoy answers
itself when it cannot connect to the upstream (Envoy charges those to the cluster's 5xx too).

`Topology` is what the query layer needs to know about the mesh: instances (pods) and their
workload, namespace and labels, and which instances each service selects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from smimesh.mesh.model import MeshModel, ServiceKey
from smimesh.telemetry.scrape import Bin, StatsSample
from smimesh.xds import names

OUTBOUND: Final = "out"
INBOUND: Final = "in"
_OUTBOUND_STAT = re.compile(r"^cluster\.(?P<cluster>[^.]+)\.upstream_rq_(?P<what>[1-5]xx|time)$")
_INBOUND_STAT = re.compile(r"^http\.inbound_(?P<port>[^.]+)\.downstream_rq_(?P<what>[1-5]xx|time)$")
# Per-route and RBAC series (telemetry/routes.py says what they mean and how they are queried).
ROUTE: Final = "route"
DENIED: Final = "denied"
AUDITED: Final = "audited"
_ROUTE_STAT = re.compile(r"^cluster\.(?P<cluster>local_app\|[^.]+)\.upstream_rq_(?P<what>[1-5]xx|time)$")
_RBAC_STAT = re.compile(
    r"^(?:http\.)?inbound_(?P<port>[^.]+)\.rbac\.(?P<what>denied|audit\.shadow_denied)$"
    r"|^listener\.inbound_(?P<tcp_port>[^.]+)\.ssl\.fail_verify_san$"  # refused at the handshake: denied
)


@dataclass(frozen=True, slots=True, order=True)
class Series:
    direction: str  # OUTBOUND | INBOUND
    instance: str  # node id of the measuring sidecar: `<instance>.<namespace>`
    target: str  # OUTBOUND: "namespace/service"; INBOUND: the Workload port name


@dataclass(slots=True)
class Reading:
    """Cumulative outcome of one series: success/failure counts, the latency bins (ms), and the
    counts per response class (`"2xx"`...) for the Prometheus export."""

    success: float = 0.0
    failure: float = 0.0
    latency: tuple[Bin, ...] = ()
    classes: dict[str, float] = field(default_factory=dict)


def readings_from_sample(instance: str, sample: StatsSample) -> dict[Series, Reading]:
    """Every series one sidecar's sample measures (`instance` is the sidecar's node id)."""
    readings: dict[Series, Reading] = {}
    for name, value in sample.counters.items():
        found = _classify(instance, name)
        if found is not None:
            series, what = found
            reading = readings.setdefault(series, Reading())
            reading.classes[what] = reading.classes.get(what, 0.0) + value
            if what == "5xx":
                reading.failure += value
            else:
                reading.success += value
    for name, bins in sample.histograms.items():
        found = _classify(instance, name)
        if found is not None and found[1] == "time":
            reading = readings.setdefault(found[0], Reading())
            reading.latency = merge_bins((reading.latency, bins))
    return readings


def _classify(instance: str, stat: str) -> tuple[Series, str] | None:
    outbound = _OUTBOUND_STAT.match(stat)
    parsed = names.parse_outbound_cluster(outbound["cluster"]) if outbound else None
    if outbound and parsed:
        return Series(OUTBOUND, instance, str(parsed[0])), outbound["what"]
    inbound = _INBOUND_STAT.match(stat)
    if inbound:
        return Series(INBOUND, instance, inbound["port"]), inbound["what"]
    return route_series(instance, stat)


def route_of(instance: str, port_name: str, route: str) -> Series:
    """The per-route series of `route` (a `names.route_name`) on `instance`'s port `port_name`."""
    return Series(ROUTE, instance, f"{port_name}|{route}")


def route_series(instance: str, stat: str) -> tuple[Series, str] | None:
    """The per-route or RBAC-denial series a stat measures, and what it counts (`2xx`.., `time`, `count`)."""
    route = _ROUTE_STAT.match(stat)
    parsed = names.parse_route_cluster(route["cluster"]) if route else None
    if route and parsed:
        return route_of(instance, *parsed), route["what"]
    rbac = _RBAC_STAT.match(stat)
    if rbac:
        kind = AUDITED if rbac["what"] == "audit.shadow_denied" else DENIED
        return Series(kind, instance, rbac["port"] or rbac["tcp_port"]), "count"
    return None


def _split_index(model: MeshModel) -> dict[tuple[str, str], tuple[ServiceKey, tuple[ServiceKey, ...]]]:
    found: dict[tuple[str, str], tuple[ServiceKey, tuple[ServiceKey, ...]]] = {}
    for (root, _port), port_splits in model.splits.items():
        for route in port_splits.routes:
            if route.kind == "TrafficSplit":
                known = found.get((route.namespace, route.name), (root, ()))[1]
                backends = tuple(dict.fromkeys([*known, *(b.service for b in route.backends)]))
                found[(route.namespace, route.name)] = (root, backends)
    return found


def merge_bins(groups: Iterable[Iterable[Bin]]) -> tuple[Bin, ...]:
    """Add histograms bin by bin (bins with the same lower bound and width are the same bin)."""
    counts: dict[tuple[float, float], float] = {}
    for bins in groups:
        for b in bins:
            counts[(b.lower, b.width)] = counts.get((b.lower, b.width), 0.0) + b.count
    return tuple(Bin(lower, width, count) for (lower, width), count in sorted(counts.items()) if count)


@dataclass(frozen=True, slots=True)
class Pod:
    """One workload instance as the metrics API names it (`pods`)."""

    node_id: str
    namespace: str
    name: str
    workload: str
    labels: Mapping[str, str] = field(default_factory=dict)
    admin_port: int = 0
    host: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Topology:
    """The mesh as telemetry sees it: pods by node id and the pods each service selects."""

    pods: Mapping[str, Pod] = field(default_factory=dict)
    service_pods: Mapping[ServiceKey, frozenset[str]] = field(default_factory=dict)
    # (namespace, TrafficSplit name) -> (root, backends): the `trafficsplits` kind (telemetry/splits.py)
    splits: Mapping[tuple[str, str], tuple[ServiceKey, tuple[ServiceKey, ...]]] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: MeshModel) -> Topology:
        pods = {
            node_id: Pod(node_id, i.namespace, i.name, i.workload, dict(i.labels), i.admin_port, i.host)
            for node_id, i in model.instances.items()
        }
        selected = {
            key: frozenset(e.node_id for p in service.ports for e in p.endpoints)
            for key, service in model.services.items()
        }
        return cls(pods, selected, _split_index(model))

    def workload_of(self, node_id: str) -> tuple[str, str] | None:
        pod = self.pods.get(node_id)
        return (pod.namespace, pod.workload) if pod else None
