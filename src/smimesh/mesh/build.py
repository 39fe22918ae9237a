"""`build_model`: from an input snapshot and the running instances to an immutable `MeshModel`.

Owns the orchestration and the service side (ports, protocols, endpoints); policies and splits are
resolved in `build_policies.py` and `build_splits.py`. Whatever cannot be used is left out with an
SM6xxx diagnostic (see `codes.py`); the rest of the model is still built.

`snapshot` is an `InputSnapshot` (anything with `of_kind(cls)`), or simply an iterable of hub
resources (handy in tests and benchmarks).
"""

from __future__ import annotations

import itertools
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from smimesh.diagnostics import Diagnostic, Location, ObjectRef
from smimesh.mesh import codes
from smimesh.mesh.build_policies import build_policies
from smimesh.mesh.build_routes import build_http_routes, with_http_routes
from smimesh.mesh.build_splits import build_splits
from smimesh.mesh.egress import EGRESS_KINDS, egress_rules
from smimesh.mesh.ingress import INGRESS_KINDS, build_ingress, ingress_policies
from smimesh.mesh.instances import InstanceIndex
from smimesh.mesh.model import (
    DEFAULT_CLUSTER_DOMAIN,
    DEFAULT_SEMANTICS,
    DEFAULT_TRUST_DOMAIN,
    AccessSemantics,
    Endpoint,
    Instance,
    MeshModel,
    Protocol,
    Service,
    ServiceKey,
    ServicePort,
)
from smimesh.mesh.protocols import protocol_of
from smimesh.mesh.resilience import RESILIENCE_KINDS
from smimesh.mesh.resilience import resolve as resolve_resilience
from smimesh.mesh.reuse import BuildState, NamespaceServices, ServiceEntry, same
from smimesh.resources.access import TrafficTarget
from smimesh.resources.core import Service as ServiceResource
from smimesh.resources.core import ServicePort as ServicePortResource
from smimesh.resources.gateway import HTTPRoute
from smimesh.resources.meta import Resource
from smimesh.resources.specs import HTTPRouteGroup, TCPRoute, UDPRoute
from smimesh.resources.split import TrafficSplit


class Inputs:
    """The hub resources of a snapshot, by kind (each in (namespace, name) order), with same-namespace
    lookup by name; a kind is taken from the snapshot when first asked for."""

    def __init__(self, snapshot: Any) -> None:
        self._snapshot = snapshot if hasattr(snapshot, "of_kind") else None
        self.by_kind: dict[type[Resource], list[Any]] = {}
        if self._snapshot is None:  # an iterable of resources (tests, benchmarks): sort it here
            found: dict[type[Resource], list[Any]] = defaultdict(list)
            for obj in snapshot:
                if isinstance(obj, _KINDS):
                    found[type(obj)].append(obj)
            self.by_kind = {cls: sorted(items, key=_BY_NAME) for cls, items in found.items()}
        # Built per kind on first lookup: only route kinds are looked up by name, not the many Services.
        self._named: dict[type[Resource], dict[tuple[str, str], Any]] = {}
        self._by_namespace: dict[type[Resource], dict[str, tuple[Any, ...]]] = {}

    def of(self, cls: type[Resource]) -> list[Any]:
        if cls not in self.by_kind:
            self.by_kind[cls] = self._snapshot.of_kind(cls) if self._snapshot is not None else []
        return self.by_kind[cls]

    def by_namespace(self, cls: type[Resource]) -> dict[str, tuple[Any, ...]]:
        """`of(cls)` by namespace; from a snapshot's keys, without reading every resource's metadata."""
        if cls not in self._by_namespace:
            if self._snapshot is not None and hasattr(self._snapshot, "of_kind_by_namespace"):
                self._by_namespace[cls] = self._snapshot.of_kind_by_namespace(cls)
            else:
                groups = itertools.groupby(self.of(cls), key=_NAMESPACE)
                self._by_namespace[cls] = {ns: tuple(group) for ns, group in groups}
        return self._by_namespace[cls]

    def named(self, cls: type[Resource], namespace: str, name: str) -> Any:
        if cls not in self._named:
            self._named[cls] = {_BY_NAME(o): o for o in self.of(cls)}
        return self._named[cls].get((namespace, name))


_BY_NAME = operator.attrgetter("metadata.namespace", "metadata.name")  # (namespace, name), in C
_NAMESPACE = operator.attrgetter("metadata.namespace")


_KINDS: tuple[type[Resource], ...] = (
    ServiceResource,
    TrafficTarget,
    TrafficSplit,
    HTTPRouteGroup,
    TCPRoute,
    UDPRoute,
    *RESILIENCE_KINDS,
    HTTPRoute,
    *INGRESS_KINDS,
    *EGRESS_KINDS,
)


def _unique_instances(instances: Iterable[Instance], diags: list[Diagnostic]) -> dict[str, Instance]:
    unique: dict[str, Instance] = {}
    for inst in instances:
        if inst.node_id in unique:
            ref = ObjectRef("Workload", inst.namespace, inst.workload)
            diags.append(codes.diag(codes.DUPLICATE_NODE, f"node id {inst.node_id} is used twice", ref))
            continue
        unique[inst.node_id] = inst
    return unique


def _endpoint(inst: Instance, target: int | str) -> Endpoint | None:
    for port in inst.inbound:
        if port.container_port == target if isinstance(target, int) else port.name == target:
            return Endpoint(inst.host, port.sidecar_port, inst.node_id, inst.identity, port.container_port)
    return None


def _service_port(
    svc: ServiceResource,
    index: int,
    port: ServicePortResource,
    selected: Sequence[Instance],
    diags: list[Diagnostic],
) -> ServicePort:
    target = port.effective_target_port
    endpoints, unresolved = [], set()
    for inst in selected:
        found = _endpoint(inst, target)
        if found is None:
            unresolved.add(inst.workload)
        else:
            endpoints.append(found)
    for workload in sorted(unresolved):
        diags.append(
            codes.diag(
                codes.TARGET_PORT_UNRESOLVED,
                f"Workload {workload} has no port {target!r} for Service {svc.metadata.name}",
                ObjectRef("Service", svc.metadata.namespace, svc.metadata.name),
                path=f"spec.ports[{index}].targetPort",
                value=str(target),
                expected=f"a containerPort (or port name) of Workload {workload}",
            )
        )
    protocol = protocol_of(port.name, port.app_protocol, port.protocol)
    return ServicePort(
        port.name or str(port.port),
        port.port,
        target,
        protocol,
        tuple(sorted(endpoints, key=lambda e: (e.host, e.port, e.node_id))),
    )


_MAX_CHANGED_INSTANCES = 64  # beyond this many, checking each selector against them costs more


def _service(
    svc: ServiceResource, index: InstanceIndex, last: ServiceEntry | None, diags: list[Diagnostic]
) -> ServiceEntry:
    """One Service value, reused from `last` while the resource is the same (or equal) and it selects
    equal instances: a change elsewhere in a large mesh then costs a selector lookup per Service,
    not a rebuild of its ports and endpoints."""
    key = ServiceKey(svc.metadata.namespace, svc.metadata.name)
    selected = tuple(index.select(key.namespace, svc.endpoint_selector))
    if last is not None and last.selected == selected and same(last.resource, svc):
        diags.extend(last.diagnostics)
        return last if last.resource is svc else ServiceEntry(svc, selected, last.service, last.diagnostics)
    found: list[Diagnostic] = []
    ports = tuple(_service_port(svc, i, p, selected, found) for i, p in enumerate(svc.spec.ports))
    cluster_ip = svc.spec.cluster_ip if svc.spec.cluster_ip not in (None, "None") else ""
    service = Service(key, ports, tuple(sorted((svc.endpoint_selector or {}).items())), str(cluster_ip))
    diags.extend(found)
    return ServiceEntry(svc, selected, service, tuple(found))


def _changed_instances(before: Mapping[str, Instance], after: Mapping[str, Instance]) -> list[Instance]:
    """Instances added, removed or changed (both versions of a changed one)."""
    changed = [i for n, i in after.items() if before.get(n) is not i and before.get(n) != i]
    return changed + [i for n, i in before.items() if after.get(n) is not i and after.get(n) != i]


def _labels_by_namespace(changed: list[Instance]) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    for inst in changed:
        found[inst.namespace].append(inst.label_map)
    return found


def _selects_any(svc: ServiceResource, labels: list[dict[str, str]]) -> bool:
    """Whether the Service's selector matches one of `labels` (changed instances of its namespace)."""
    selector = svc.endpoint_selector
    if not selector:
        return False  # no selector selects none, whatever the instances
    return any(selector.items() <= found.items() for found in labels)


def _untouched(
    previous: BuildState, instances: Mapping[str, Instance]
) -> dict[str, list[dict[str, str]]] | None:
    """The labels of the instances changed since `previous`, by namespace; None when too many changed
    for the shortcut (every Service then looks its selector up)."""
    changed = _changed_instances(previous.instances, instances)
    return _labels_by_namespace(changed) if len(changed) <= _MAX_CHANGED_INSTANCES else None


def _namespace_services(
    group: tuple[ServiceResource, ...],
    index: InstanceIndex,
    last: NamespaceServices | None,
    touched: dict[str, list[dict[str, str]]] | None,
) -> NamespaceServices:
    """One namespace's Services. A Service whose resource is the very object of `last` and whose
    selector matches no added, removed or changed instance keeps its entry without a selector lookup."""
    diags: list[Diagnostic] = []
    entries: dict[ServiceKey, ServiceEntry] = {}
    for svc in group:
        key = ServiceKey(svc.metadata.namespace, svc.metadata.name)
        entry = last.entries.get(key) if last is not None else None
        if (
            entry is not None
            and touched is not None
            and entry.resource is svc
            and not (key.namespace in touched and _selects_any(svc, touched[key.namespace]))
        ):
            diags.extend(entry.diagnostics)
            entries[key] = entry
        else:
            entries[key] = _service(svc, index, entry, diags)
    services = {key: entry.service for key, entry in entries.items()}
    speak = frozenset(port.protocol for service in services.values() for port in service.ports)
    return NamespaceServices(group, entries, services, inbound_protocols(services), tuple(diags), speak)


def build_services(
    resources: Mapping[str, tuple[ServiceResource, ...]],
    instances: Mapping[str, Instance],
    previous: BuildState,
    diags: list[Diagnostic],
) -> dict[str, NamespaceServices]:
    """The Services by namespace (`resources`: by namespace, each in name order). A namespace whose
    resources are those of `previous` and none of whose instances changed is taken whole: a change
    costs one comparison per unrelated namespace (identical objects compare in C), and in the
    namespace it touches a selector lookup per Service, not a rebuild of its ports and endpoints."""
    touched = _untouched(previous, instances)
    index: InstanceIndex | None = None  # built only if a namespace is rebuilt
    found: dict[str, NamespaceServices] = {}
    for namespace, group in resources.items():
        last = previous.namespaces.get(namespace)
        if last is None or touched is None or namespace in touched or last.resources != group:
            index = index or InstanceIndex(instances.values())
            last = _namespace_services(group, index, last, touched)
        diags.extend(last.diagnostics)
        found[namespace] = last
    return found


def _merged(groups: Iterable[Mapping[Any, Any]]) -> dict[Any, Any]:
    """One dict of several; where they share a key, the first one's value (as `setdefault` would)."""
    merged: dict[Any, Any] = {}
    for group in reversed(list(groups)):
        merged.update(group)
    return merged


def inbound_protocols(services: Mapping[ServiceKey, Service]) -> dict[tuple[str, int], Protocol]:
    """What each instance's container port speaks, from the service ports that target it (first wins)."""
    protocols: dict[tuple[str, int], Protocol] = {}
    for key in sorted(services):  # ServiceKey is a (namespace, name) tuple: sorts in C
        for port in services[key].ports:
            for endpoint in port.endpoints:
                protocols.setdefault((endpoint.node_id, endpoint.container_port), port.protocol)
    return protocols


def _locate(diags: list[Diagnostic], snapshot: Any) -> tuple[Diagnostic, ...]:
    """Attach the file location of each diagnostic's object, when the snapshot knows it."""
    locations = getattr(snapshot, "locations", None)
    if not isinstance(locations, Mapping):
        return tuple(diags)
    located = []
    for d in diags:  # a ResourceKey is a (kind, namespace, name) tuple: look it up as one
        loc = locations.get((d.object.kind, d.object.namespace, d.object.name))
        located.append(d.at(loc) if isinstance(loc, Location) else d)
    return tuple(located)


def build_model(
    snapshot: Any,
    instances: Iterable[Instance],
    *,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
    permissive: bool = False,
    semantics: AccessSemantics = DEFAULT_SEMANTICS,
    egress_open: bool = False,
    egress_enforced: bool = False,
    previous: BuildState | None = None,
) -> MeshModel:
    """The mesh model of `snapshot` with `instances` running; never raises for bad input.

    `previous` is the `build_state` of an earlier model (mesh/reuse.py): what it holds is reused where
    the inputs are unchanged, and the result equals a cold build's. The model carries the state for
    the next build in `model.build_state`."""
    previous = previous if previous is not None else BuildState()
    inputs = Inputs(snapshot)
    diags: list[Diagnostic] = []
    by_node = _unique_instances(instances, diags)
    namespaces = build_services(inputs.by_namespace(ServiceResource), by_node, previous, diags)
    services = _merged(group.services for group in namespaces.values())
    policy_namespaces = build_policies(inputs, previous, diags)
    entries = (entry for group in policy_namespaces.values() for _, entry in group.entries)
    policies = tuple(entry.policy for entry in entries if entry.policy is not None)
    splits = with_http_routes(
        build_splits(inputs, services, diags), build_http_routes(inputs, services, diags), diags
    )
    resilience = resolve_resilience(inputs, services, cluster_domain, diags)
    policies += ingress_policies(inputs, services, diags)
    previous.views.keep_only(services)
    return MeshModel(
        services=services,
        instances=by_node,
        splits=splits,
        policies=policies,
        inbound_protocols=_merged(group.protocols for group in namespaces.values()),
        diagnostics=_locate(list(dict.fromkeys(diags)), snapshot),
        trust_domain=trust_domain,
        cluster_domain=cluster_domain,
        permissive=permissive,
        semantics=semantics,
        resilience=resilience or None,
        ingress=build_ingress(inputs, services, diags),
        egress=egress_rules(inputs, diags),
        egress_open=egress_open,
        egress_enforced=egress_enforced,
        build_state=BuildState(by_node, namespaces, policy_namespaces, previous.views),
    )
