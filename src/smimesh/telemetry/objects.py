"""The objects the metrics API names (pods, deployments, namespaces, services) and their series.

`Ref` is one object of one kind; `objects_of(kind, topology)` lists them with their labels (for
label selectors); `group_by_resource` sorts the series that measure objects themselves by object,
and `edge_groups` groups the client-side series into the object's `to` and `from` edges
(see `query.py` for what each measures and how a peer is named).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from smimesh.mesh.model import ServiceKey
from smimesh.resources.metrics import ObjectReference
from smimesh.telemetry.edges import INBOUND, OUTBOUND, Series, Topology
from smimesh.telemetry.window import Totals

KINDS = {"pods": "Pod", "deployments": "Deployment", "namespaces": "Namespace", "services": "Service"}
ALIASES = {
    **{k: k for k in KINDS},
    **{v.lower(): k for k, v in KINDS.items()},
    "po": "pods",
    "deploy": "deployments",
    "workloads": "deployments",
    "workload": "deployments",
    "ns": "namespaces",
    "svc": "services",
}
Requirement = tuple[str, str, tuple[str, ...]]  # (label key, operator, values); see matches()


@dataclass(frozen=True, slots=True, order=True)
class Ref:
    kind: str
    namespace: str | None
    name: str

    def reference(self) -> ObjectReference:
        return ObjectReference.model_construct(kind=self.kind, namespace=self.namespace, name=self.name)


def canonical_kind(name: str) -> str | None:
    """`pods`, `Pod`, `po`, `deployments`, `workloads`, ... → the plural the API path uses."""
    return ALIASES.get(name.lower())


def objects_of(kind: str, topology: Topology) -> dict[Ref, Mapping[str, str]]:
    """Every object of `kind` in the mesh, with the labels a selector is matched against."""
    found: dict[Ref, Mapping[str, str]] = {}
    if kind == "services":
        return {Ref("Service", key.namespace, key.name): {} for key in topology.service_pods}
    for pod in topology.pods.values():
        owner = owner_of(kind, pod.node_id, topology)
        if owner is not None:
            found.setdefault(owner, {} if kind == "namespaces" else pod.labels)
    if kind == "namespaces":
        found.update({Ref("Namespace", None, key.namespace): {} for key in topology.service_pods})
    return found


def owner_of(kind: str, node_id: str, topology: Topology) -> Ref | None:
    """The object of `kind` that contains the pod `node_id` (None for services: a pod may be in many)."""
    pod = topology.pods.get(node_id)
    if pod is None or kind == "services":
        return None
    if kind == "pods":
        return Ref("Pod", pod.namespace, pod.name)
    if kind == "deployments":
        return Ref("Deployment", pod.namespace, pod.workload)
    return Ref("Namespace", None, pod.namespace)


def service_owner(kind: str, service: ServiceKey, topology: Topology) -> Ref:
    """The one object of `kind` behind `service`, or the Service itself when there is not exactly one."""
    if kind == "namespaces":
        return Ref("Namespace", None, service.namespace)
    if kind != "services":
        owners = {owner_of(kind, node_id, topology) for node_id in topology.service_pods.get(service, ())}
        if len(owners) == 1 and None not in owners:
            return next(iter(owners))  # type: ignore[return-value]
    return Ref("Service", service.namespace, service.name)


def _measured_resource(kind: str, series: Series, topology: Topology) -> Ref | None:
    """The object of `kind` whose own numbers `series` belongs to (see `query.py`), if any."""
    if kind == "services":
        if series.direction != OUTBOUND:
            return None
        namespace, _, name = series.target.partition("/")
        return Ref("Service", namespace, name)
    return owner_of(kind, series.instance, topology) if series.direction == INBOUND else None


def resource_filter(kind: str, refs: set[Ref], topology: Topology) -> Callable[[Series], bool]:
    """Which series measure one of `refs` themselves (so the backend sums only those)."""
    return lambda series: _measured_resource(kind, series, topology) in refs


def group_by_resource(
    kind: str, topology: Topology, totals: Mapping[Series, Totals]
) -> dict[Ref, list[Totals]]:
    """The totals of the series measuring each object itself, in one pass."""
    groups: dict[Ref, list[Totals]] = {}
    for series, total in totals.items():
        ref = _measured_resource(kind, series, topology)
        if ref is not None:
            groups.setdefault(ref, []).append(total)
    return groups


def edge_filter(kind: str, ref: Ref, topology: Topology) -> Callable[[Series], bool]:
    """Which series measure one of `ref`'s edges (client side: sent by it, or sent to it)."""

    def wanted(series: Series) -> bool:
        if series.direction != OUTBOUND:
            return False
        source = owner_of("deployments" if kind == "services" else kind, series.instance, topology)
        return source == ref or _destination(kind, series, topology) == ref

    return wanted


def _destination(kind: str, series: Series, topology: Topology) -> Ref:
    namespace, _, name = series.target.partition("/")
    return service_owner(kind, ServiceKey(namespace, name), topology)


Direction = Literal["to", "from"]


def edge_groups(
    kind: str, ref: Ref, topology: Topology, totals: Mapping[Series, Totals]
) -> dict[tuple[Direction, Ref], list[Totals]]:
    """The object's edges: (`to`|`from`, peer) → the client-side series that measured them."""
    groups: dict[tuple[Direction, Ref], list[Totals]] = {}
    for series, total in totals.items():
        if series.direction != OUTBOUND or series.instance not in topology.pods:
            continue
        destination = _destination(kind, series, topology)
        source = owner_of("deployments" if kind == "services" else kind, series.instance, topology)
        if source == ref:
            groups.setdefault(("to", destination), []).append(total)
        if destination == ref and source is not None:
            groups.setdefault(("from", source), []).append(total)
    return groups


def matches(selector: Sequence[Requirement], labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics: `=`/`==`, `!=`, `in`, `notin`, `exists`, `!` (absent)."""
    return all(_holds(op, labels.get(key), values) for key, op, values in selector)


def _holds(op: str, value: str | None, values: tuple[str, ...]) -> bool:
    if op in ("=", "==", "in"):
        return value is not None and value in values
    if op in ("!=", "notin"):
        return value is None or value not in values
    return (value is not None) == (op == "exists")


def selector_dict(selector: Sequence[Requirement]) -> dict[str, Any] | None:
    """The LabelSelector echoed in a filtered list (`matchLabels` + `matchExpressions`)."""
    if not selector:
        return None
    match_labels = {key: values[0] for key, op, values in selector if op in ("=", "==")}
    operators = {"!=": "NotIn", "in": "In", "notin": "NotIn", "exists": "Exists", "!": "DoesNotExist"}
    expressions = [
        {"key": key, "operator": operators[op], **({"values": list(values)} if values else {})}
        for key, op, values in selector
        if op not in ("=", "==")
    ]
    return {"matchLabels": match_labels, **({"matchExpressions": expressions} if expressions else {})}
