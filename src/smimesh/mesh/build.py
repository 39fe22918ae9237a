"""`build_model`: from an input snapshot and the running instances to an immutable `MeshModel`.

Owns the orchestration and the service side (ports, protocols, endpoints); policies and splits are
resolved in `build_policies.py` and `build_splits.py`. Whatever cannot be used is left out with an
SM6xxx diagnostic (see `codes.py`); the rest of the model is still built.

`snapshot` is an `InputSnapshot` (anything with `of_kind(cls)`), or simply an iterable of hub
resources (handy in tests and benchmarks).
"""

from __future__ import annotations

import operator
from collections import OrderedDict, defaultdict
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
from smimesh.resources.access import TrafficTarget
from smimesh.resources.core import Service as ServiceResource
from smimesh.resources.core import ServicePort as ServicePortResource
from smimesh.resources.gateway import HTTPRoute
from smimesh.resources.meta import Resource
from smimesh.resources.specs import HTTPRouteGroup, TCPRoute, UDPRoute
from smimesh.resources.split import TrafficSplit


class Inputs:
    """The hub resources of a snapshot, by kind, with same-namespace lookup by name."""

    def __init__(self, snapshot: Any) -> None:
        self.by_kind: dict[type[Resource], list[Any]] = defaultdict(list)
        for obj in _all_objects(snapshot):
            self.by_kind[type(obj)].append(obj)
        for items in self.by_kind.values():
            items.sort(key=_BY_NAME)
        # Built per kind on first lookup: only route kinds are looked up by name, not the many Services.
        self._named: dict[type[Resource], dict[tuple[str, str], Any]] = {}

    def of(self, cls: type[Resource]) -> list[Any]:
        return self.by_kind.get(cls, [])

    def named(self, cls: type[Resource], namespace: str, name: str) -> Any:
        if cls not in self._named:
            self._named[cls] = {_BY_NAME(o): o for o in self.of(cls)}
        return self._named[cls].get((namespace, name))


_BY_NAME = operator.attrgetter("metadata.namespace", "metadata.name")  # (namespace, name), in C


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


def _all_objects(snapshot: Any) -> list[Any]:
    if hasattr(snapshot, "of_kind"):
        return [obj for cls in _KINDS for obj in snapshot.of_kind(cls)]
    return [obj for obj in snapshot if isinstance(obj, _KINDS)]


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


_ServiceEntry = tuple[ServiceResource, tuple[Instance, ...], Service, tuple[Diagnostic, ...]]
_SERVICE_CACHE: OrderedDict[int, _ServiceEntry] = OrderedDict()
_SERVICE_CACHE_SIZE = 100_000


def _service(svc: ServiceResource, index: InstanceIndex, diags: list[Diagnostic]) -> Service:
    """One Service value, reused while the resource is the same object and selects equal instances
    (the store hands unchanged resources over as the same objects): a change elsewhere in a large
    mesh then costs a selector lookup per Service, not a rebuild of its ports and endpoints."""
    key = ServiceKey(svc.metadata.namespace, svc.metadata.name)
    selected = tuple(index.select(key.namespace, svc.endpoint_selector))
    hit = _SERVICE_CACHE.get(id(svc))
    if hit is not None and hit[0] is svc and hit[1] == selected:
        _SERVICE_CACHE.move_to_end(id(svc))
        diags.extend(hit[3])
        return hit[2]
    found: list[Diagnostic] = []
    ports = tuple(_service_port(svc, i, p, selected, found) for i, p in enumerate(svc.spec.ports))
    cluster_ip = svc.spec.cluster_ip if svc.spec.cluster_ip not in (None, "None") else ""
    service = Service(key, ports, tuple(sorted((svc.endpoint_selector or {}).items())), str(cluster_ip))
    _SERVICE_CACHE[id(svc)] = (svc, selected, service, tuple(found))
    if len(_SERVICE_CACHE) > _SERVICE_CACHE_SIZE:
        _SERVICE_CACHE.popitem(last=False)
    diags.extend(found)
    return service


_Entry = tuple[ServiceResource, Service, tuple[Diagnostic, ...]]
# The previous build's instances and Service values by key: [(instances by node id, entries)].
_previous: list[tuple[Mapping[str, Instance], dict[ServiceKey, _Entry]]] = []
_MAX_CHANGED_INSTANCES = 64  # beyond this many, checking each selector against them costs more


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


def build_services(
    resources: Sequence[ServiceResource],
    index: InstanceIndex,
    diags: list[Diagnostic],
    instances: Mapping[str, Instance] | None = None,
) -> dict[ServiceKey, Service]:
    """Service values by key. Given `instances`, a Service whose resource is the very object of the
    previous build and whose selector matches no added, removed or changed instance keeps its value
    without a selector lookup: a change costs little per unrelated Service."""
    last = _previous[0] if _previous and instances is not None else None
    changed = _changed_instances(last[0], instances) if last is not None and instances is not None else []
    entries = last[1] if last is not None and len(changed) <= _MAX_CHANGED_INSTANCES else {}
    touched = _labels_by_namespace(changed)
    services: dict[ServiceKey, Service] = {}
    kept: dict[ServiceKey, _Entry] = {}
    for svc in resources:
        key = ServiceKey(svc.metadata.namespace, svc.metadata.name)
        hit = entries.get(key)
        if (
            hit is None
            or hit[0] is not svc
            or (key.namespace in touched and _selects_any(svc, touched[key.namespace]))
        ):
            found: list[Diagnostic] = []
            hit = (svc, _service(svc, index, found), tuple(found))
        diags.extend(hit[2])
        services[key], kept[key] = hit[1], hit
    if instances is not None:
        _previous[:] = [(instances, kept)]
    return services


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
    by_ref = {tuple(k): v for k, v in locations.items()}
    located = []
    for d in diags:
        loc = by_ref.get((d.object.kind, d.object.namespace, d.object.name))
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
) -> MeshModel:
    """The mesh model of `snapshot` with `instances` running; never raises for bad input."""
    inputs = Inputs(snapshot)
    diags: list[Diagnostic] = []
    by_node = _unique_instances(instances, diags)
    services = build_services(inputs.of(ServiceResource), InstanceIndex(by_node.values()), diags, by_node)
    policies = build_policies(inputs, diags)
    splits = with_http_routes(
        build_splits(inputs, services, diags), build_http_routes(inputs, services, diags), diags
    )
    resilience = resolve_resilience(inputs, services, cluster_domain, diags)
    policies += ingress_policies(inputs, services, diags)
    return MeshModel(
        services=services,
        instances=by_node,
        splits=splits,
        policies=policies,
        inbound_protocols=inbound_protocols(services),
        diagnostics=_locate(list(dict.fromkeys(diags)), snapshot),
        trust_domain=trust_domain,
        cluster_domain=cluster_domain,
        permissive=permissive,
        semantics=semantics,
        resilience=resilience or None,
        ingress=build_ingress(inputs, services, diags),
        egress=egress_rules(inputs, diags),
        egress_open=egress_open,
    )
