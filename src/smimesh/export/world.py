"""The pods behind the SMI objects: who runs as which service account, with which labels and ports.

SMI names workloads by service account; Istio and Linkerd select them by pod labels and Consul by
service name. The export needs the pods to translate one into the other, and takes them from the
smimesh `Workload`s in the input and from Kubernetes `Deployment`, `StatefulSet`, `DaemonSet`,
`ReplicaSet` and `Pod` manifests given beside it (`pod_groups_from_documents`; only the fields
named here are read, the rest is ignored). `World` answers the two questions the targets ask:
the label selector that picks exactly one service account's pods (`selector_for`), and the
services whose pods all run as one account (`services_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from smimesh.mesh import Instance, MeshModel, build_model
from smimesh.mesh.model import Identity, InboundPort, Protocol, ServiceKey
from smimesh.resources import InputSnapshot
from smimesh.resources.core import Service
from smimesh.resources.workload import Workload

POD_KINDS = {
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("v1", "Pod"),
}


@dataclass(frozen=True, slots=True)
class PodGroup:
    """Pods that share labels, service account and ports (a Workload, a Deployment's template, a Pod)."""

    namespace: str
    name: str
    kind: str
    service_account: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int], ...] = ()  # (name, containerPort)

    @property
    def identity(self) -> Identity:
        return Identity(self.namespace, self.service_account)

    def selected_by(self, selector: Mapping[str, str]) -> bool:
        labels = dict(self.labels)
        return all(labels.get(k) == v for k, v in selector.items())


def is_pod_document(data: Mapping[str, Any]) -> bool:
    return (data.get("apiVersion"), data.get("kind")) in POD_KINDS


def pod_group_of(data: Mapping[str, Any]) -> PodGroup | None:
    """The pod group a Deployment-like or Pod manifest describes; None when it has no usable shape."""
    meta = data.get("metadata") or {}
    kind = str(data.get("kind"))
    pod = data if kind == "Pod" else (data.get("spec") or {}).get("template") or {}
    pod_meta, pod_spec = pod.get("metadata") or {}, pod.get("spec") or {}
    if not isinstance(meta, dict) or not isinstance(pod_meta, dict) or not isinstance(pod_spec, dict):
        return None
    labels = pod_meta.get("labels") or {}
    account = pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default"
    ports = [
        (str(p.get("name") or p.get("containerPort")), int(p["containerPort"]))
        for c in pod_spec.get("containers") or []
        for p in (c.get("ports") or [])
        if isinstance(p, dict) and isinstance(p.get("containerPort"), int)
    ]
    return PodGroup(
        str(meta.get("namespace") or "default"),
        str(meta.get("name") or ""),
        kind,
        str(account),
        tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        tuple(ports),
    )


def pod_groups_of_workloads(workloads: Iterable[Workload]) -> list[PodGroup]:
    return [
        PodGroup(
            w.metadata.namespace,
            w.metadata.name,
            "Workload",
            w.spec.service_account,
            tuple(sorted(w.metadata.labels.items())),
            tuple((p.name or str(p.container_port), p.container_port) for p in w.spec.ports),
        )
        for w in workloads
    ]


@dataclass(frozen=True)
class World:
    """The input as the exporters see it: the mesh model (services, splits, policies) and the pods."""

    model: MeshModel
    pods: tuple[PodGroup, ...]

    @staticmethod
    def build(snapshot: InputSnapshot, extra_pods: Sequence[PodGroup] = ()) -> World:
        services = list(snapshot.of_kind(Service))
        pods = (
            *pod_groups_of_workloads(snapshot.of_kind(Workload)),
            *(_with_target_ports(p, services) for p in extra_pods),
        )
        return World(build_model(snapshot, [_instance(p) for p in pods]), tuple(pods))

    def pods_of(self, identity: Identity) -> list[PodGroup]:
        return [p for p in self.pods if p.identity == identity]

    def selector_for(self, identity: Identity) -> tuple[dict[str, str] | None, str]:
        """Labels selecting exactly the pods of `identity` in its namespace, or None and why not."""
        own = self.pods_of(identity)
        if not own:
            return None, f"no Workload, Deployment or Pod in the input runs as {identity}"
        common = set(own[0].labels).intersection(*(set(p.labels) for p in own[1:]))
        selector = dict(sorted(common))
        if not selector:
            return None, f"the pods of {identity} ({_names(own)}) share no label"
        others = [
            p
            for p in self.pods
            if p.namespace == identity.namespace and p.identity != identity and p.selected_by(selector)
        ]
        if others:
            return None, (
                f"the labels the pods of {identity} share ({_labels(selector)}) also select "
                f"{_names(others)}, which run as another service account"
            )
        return selector, ""

    def services_of(self, identity: Identity) -> tuple[list[ServiceKey], list[ServiceKey]]:
        """(services whose pods all run as `identity`, services mixing it with other accounts)."""
        pure: list[ServiceKey] = []
        mixed: list[ServiceKey] = []
        for key, service in sorted(self.model.services.items()):
            identities = service.identities
            if identity in identities:
                (pure if identities == {identity} else mixed).append(key)
        return pure, mixed

    def container_ports(self, identity: Identity) -> dict[int, Protocol]:
        """Container ports of `identity` that some Service reaches, with the Service port's protocol."""
        found: dict[int, Protocol] = {}
        for service in self.model.services.values():
            for port in service.ports:
                for endpoint in port.endpoints:
                    if endpoint.identity == identity:
                        found.setdefault(endpoint.container_port, port.protocol)
        return dict(sorted(found.items()))


def _with_target_ports(group: PodGroup, services: Iterable[Service]) -> PodGroup:
    """A Kubernetes pod serves a numeric targetPort whether or not its manifest declares it."""
    declared = {number for _, number in group.ports}
    extra = sorted(
        {
            port.effective_target_port
            for svc in services
            if svc.metadata.namespace == group.namespace
            and svc.spec.selector
            and group.selected_by(svc.spec.selector)
            for port in svc.spec.ports
            if isinstance(port.effective_target_port, int) and port.effective_target_port not in declared
        }
    )
    return replace(group, ports=(*group.ports, *((str(n), n) for n in extra)))


def _instance(group: PodGroup) -> Instance:
    inbound = tuple(InboundPort(name, number, 0, 0) for name, number in group.ports)
    return Instance(
        group.namespace, group.name, f"{group.name}-0", group.service_account, group.labels, inbound=inbound
    )


def _names(groups: Iterable[PodGroup]) -> str:
    return ", ".join(f"{g.kind} {g.name}" for g in groups)


def _labels(selector: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in selector.items())
