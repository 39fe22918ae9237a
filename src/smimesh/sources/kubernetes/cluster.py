"""Pure translation of cluster state (Namespaces, Pods, EndpointSlices) into mesh instances and modes.

Membership and modes come from Namespace labels: `smimesh.io/monitored-by: <mesh>` opts a namespace in
(its pods become instances, the admission webhook checks its SMI objects); `smimesh.io/mtls:
strict|permissive` and `smimesh.io/audit: "true"` set its mode.

A Running pod with an IP, not being deleted, in a meshed namespace is one `Instance`: node id
`<pod>.<namespace>`, its labels, `spec.serviceAccountName`, host = `status.podIP`, one inbound port per
container port (targetPort by name or number). Where its sidecar listens comes from annotations, so that
sidecars on loopback (tests, this issue) and in pods (issue 13) use the same path:
`smimesh.io/ports: {"<port name>": {"sidecar": 15101, "app": 8080}}` (defaults: sidecar 15100 + the
port's index, app = containerPort), `smimesh.io/outbound-port` (15001), `smimesh.io/admin-port` (15000),
`smimesh.io/tcp-upstreams: {"svc.ns:port": local port}`. A pod injected for the mesh (annotation
`smimesh.io/injected`, issue 13) is `transparent`: its sidecar receives captured traffic, so each inbound
port defaults to the container port itself on the pod IP (`xds/transparent.py`), and its stats are read
on the health port (its admin listens on the pod's loopback only).

Readiness follows EndpointSlices (merged per Service by `kubernetes.io/service-name`): a pod that any
slice lists is ready only if some slice lists it with `conditions.ready` not false; a pod no slice
lists is ready when its `Ready` condition is True. A pod that is not ready is published without labels
(like the local readiness gate): its sidecar keeps its config, but no Service selects it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from smimesh.mesh.model import InboundPort, Instance, ServiceKey, TcpUpstream
from smimesh.mesh.modes import MtlsMode, NamespaceMode

Obj = Mapping[str, Any]
PodKey = tuple[str, str]  # (namespace, name)

MONITORED = "smimesh.io/monitored-by"
MTLS_LABEL = "smimesh.io/mtls"
AUDIT_LABEL = "smimesh.io/audit"
PORTS = "smimesh.io/ports"
OUTBOUND_PORT = "smimesh.io/outbound-port"
ADMIN_PORT = "smimesh.io/admin-port"
TCP_UPSTREAMS = "smimesh.io/tcp-upstreams"
SERVICE_NAME = "kubernetes.io/service-name"
SIDECAR_PORT_BASE = 15100
INJECTED = "smimesh.io/injected"
HEALTH_PORT = 15020  # an injected pod's sidecar serves its stats here (pods/sidecar.py); admin: loopback only


def injected(pod: Obj) -> bool:
    return INJECTED in (_meta(pod).get("annotations") or {})


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def meshed(namespace: Obj, mesh: str) -> bool:
    return (_meta(namespace).get("labels") or {}).get(MONITORED) == mesh


def namespace_mode(namespace: Obj) -> NamespaceMode | None:
    labels = _meta(namespace).get("labels") or {}
    mtls = labels.get(MTLS_LABEL)
    audit = labels.get(AUDIT_LABEL) == "true"
    if mtls not in ("strict", "permissive"):
        mtls = None
    if mtls is None and not audit:
        return None
    return NamespaceMode(str(_meta(namespace).get("name")), MtlsMode(mtls) if mtls else None, audit)


def _annotation(pod: Obj, key: str, default: Any) -> Any:
    raw = (_meta(pod).get("annotations") or {}).get(key)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def _workload(pod: Obj) -> str:
    labels = _meta(pod).get("labels") or {}
    owners = _meta(pod).get("ownerReferences") or [{}]
    return str(
        labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or owners[0].get("name")
        or _meta(pod).get("name")
    )


def _inbound(pod: Obj) -> tuple[InboundPort, ...]:
    wanted = _annotation(pod, PORTS, {})
    ports = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
    found = []
    for index, port in enumerate(ports):
        number = int(port["containerPort"])
        name = str(port.get("name") or number)
        chosen = wanted.get(name) or wanted.get(str(number)) or {}
        found.append(
            InboundPort(
                name,
                number,
                int(chosen.get("app", number)),
                int(chosen.get("sidecar", number if injected(pod) else SIDECAR_PORT_BASE + index)),
            )
        )
    return tuple(found)


def _tcp_upstreams(pod: Obj) -> tuple[TcpUpstream, ...]:
    found = []
    for target, local in sorted(_annotation(pod, TCP_UPSTREAMS, {}).items()):
        service, _, port = str(target).rpartition(":")
        name, _, namespace = service.partition(".")
        if name and namespace and port.isdigit():
            found.append(TcpUpstream(namespace, name, int(port), int(local)))
    return tuple(found)


def pod_instance(pod: Obj) -> Instance | None:
    """The instance of a running pod (None: not running, no IP yet, or being deleted)."""
    meta, status = _meta(pod), pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP") or meta.get("deletionTimestamp"):
        return None
    return Instance(
        namespace=str(meta.get("namespace")),
        workload=_workload(pod),
        name=str(meta.get("name")),
        service_account=str((pod.get("spec") or {}).get("serviceAccountName") or "default"),
        labels=tuple(sorted((str(k), str(v)) for k, v in (meta.get("labels") or {}).items())),
        admin_port=int(_annotation(pod, ADMIN_PORT, HEALTH_PORT if injected(pod) else 15000)),
        outbound_http_port=int(_annotation(pod, OUTBOUND_PORT, 15001)),
        inbound=_inbound(pod),
        tcp_upstreams=_tcp_upstreams(pod),
        host=str(status["podIP"]),
        transparent=injected(pod),
        logs_to_control_plane=True,  # a controller cannot tail files in pods (xds/access_log.py)
    )


def pod_condition_ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    """One address of one endpoint of a Service, as its EndpointSlices say."""

    address: str
    family: str  # IPv4 | IPv6 | FQDN
    ready: bool
    pod: PodKey | None


def slice_addresses(slice_: Obj) -> list[EndpointAddress]:
    family = str(slice_.get("addressType", "IPv4"))
    found: list[EndpointAddress] = []
    for endpoint in slice_.get("endpoints") or []:
        ready = (endpoint.get("conditions") or {}).get("ready") is not False
        ref = endpoint.get("targetRef") or {}
        pod = (
            (str(ref.get("namespace") or _meta(slice_).get("namespace")), str(ref["name"]))
            if ref.get("kind") == "Pod" and ref.get("name")
            else None
        )
        found.extend(EndpointAddress(str(a), family, ready, pod) for a in endpoint.get("addresses") or [])
    return found


def endpoints_by_service(slices: Iterable[Obj]) -> dict[ServiceKey, list[EndpointAddress]]:
    """Every Service's endpoints, its slices merged (IPv4 and IPv6 slices alike), sorted."""
    merged: dict[ServiceKey, set[EndpointAddress]] = {}
    for slice_ in slices:
        service = (_meta(slice_).get("labels") or {}).get(SERVICE_NAME)
        if service:
            key = ServiceKey(str(_meta(slice_).get("namespace")), str(service))
            merged.setdefault(key, set()).update(slice_addresses(slice_))
    return {key: sorted(found, key=lambda e: (e.family, e.address)) for key, found in sorted(merged.items())}


def ready_endpoints(slices: Iterable[Obj]) -> dict[ServiceKey, list[str]]:
    """Every Service's ready addresses (not-ready endpoints skipped)."""
    return {key: [e.address for e in found if e.ready] for key, found in endpoints_by_service(slices).items()}


def pod_readiness(slices: Iterable[Obj]) -> tuple[set[PodKey], set[PodKey]]:
    """(pods some slice lists as ready, pods any slice lists)."""
    ready: set[PodKey] = set()
    listed: set[PodKey] = set()
    for slice_ in slices:
        for endpoint in slice_addresses(slice_):
            if endpoint.pod is not None:
                listed.add(endpoint.pod)
                if endpoint.ready:
                    ready.add(endpoint.pod)
    return ready, listed


def instances(
    pods: Iterable[Obj],
    slices: Iterable[Obj],
    namespaces: Iterable[Obj],
    mesh: str,
    instance_of: Callable[[Obj], Instance | None] = pod_instance,
) -> list[Instance]:
    """Every instance of the mesh: pods of meshed namespaces, unready ones without labels
    (`instance_of`: `pod_instance`, or a memo of it)."""
    inside = {str(_meta(ns).get("name")) for ns in namespaces if meshed(ns, mesh)}
    ready, listed = pod_readiness(slices)
    found = []
    for pod in pods:
        key = (str(_meta(pod).get("namespace")), str(_meta(pod).get("name")))
        instance = instance_of(pod) if key[0] in inside else None
        if instance is None:
            continue
        serving = key in ready if key in listed else pod_condition_ready(pod)
        found.append(instance if serving else replace(instance, labels=()))
    return sorted(found, key=lambda i: i.node_id)
