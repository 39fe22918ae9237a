"""Workload instances: which instances a Service selects, and building instances from Workloads.

Owns the label-selector index `build_model` uses (a selector is a subset test on the instance's
Workload labels, within the Service's namespace) and `instances_from_workloads`, which tests, the
bookstore world and the benchmarks use to lay out instances and their ports the way the local
runtime does: `<workload>-<index>`, node id `<instance>.<namespace>`, every port from `allocate`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence

from smimesh.mesh.model import InboundPort, Instance, TcpUpstream
from smimesh.resources.workload import Workload

# (namespace, name, service account, labels, replicas, [(port name, containerPort), ...])
WorkloadLayout = tuple[str, str, str, Mapping[str, str], int, Sequence[tuple[str, int]]]


class InstanceIndex:
    """Instances by namespace, and each namespace's by (label, value) for fast selector evaluation;
    a namespace's label index is built when a selector first looks into it (endpoint churn rebuilds
    the Services of a few namespaces: indexing every instance's labels per build was most of it)."""

    def __init__(self, instances: Iterable[Instance]) -> None:
        self._by_ns: dict[str, list[Instance]] = defaultdict(list)
        for inst in instances:
            self._by_ns[inst.namespace].append(inst)
        self._by_label: dict[str, dict[tuple[str, str], list[tuple[Instance, dict[str, str]]]]] = {}

    def _labels(self, namespace: str) -> dict[tuple[str, str], list[tuple[Instance, dict[str, str]]]]:
        found = self._by_label.get(namespace)
        if found is None:
            found = defaultdict(list)
            for inst in self._by_ns.get(namespace, ()):
                labels = dict(inst.labels)
                for pair in inst.labels:
                    found[pair].append((inst, labels))
            self._by_label[namespace] = found
        return found

    def select(self, namespace: str, selector: Mapping[str, str] | None) -> list[Instance]:
        """Instances in `namespace` whose labels include every selector pair; no selector selects none."""
        if not selector:
            return []
        pairs = list(selector.items())
        index = self._labels(namespace)
        candidates = min((index.get(pair, []) for pair in pairs), key=len)
        if len(pairs) == 1:
            return [inst for inst, _ in candidates]
        return [inst for inst, labels in candidates if all(labels.get(k) == v for k, v in pairs)]

    def in_namespace(self, namespace: str) -> list[Instance]:
        return list(self._by_ns.get(namespace, []))


def workload_layout(workloads: Iterable[Workload]) -> list[WorkloadLayout]:
    """What `instances_from_workloads` needs of each Workload; an unnamed port is named by its number."""
    return [
        (
            w.metadata.namespace,
            w.metadata.name,
            w.spec.service_account,
            w.metadata.labels,
            w.spec.replicas,
            [(p.name or str(p.container_port), p.container_port) for p in w.spec.ports],
        )
        for w in workloads
    ]


def _inbound_ports(ports: Sequence[tuple[str, int]], allocate: Callable[[], int]) -> tuple[InboundPort, ...]:
    return tuple(InboundPort(name, container, allocate(), allocate()) for name, container in ports)


def instances_from_workloads(
    workloads: Iterable[WorkloadLayout],
    allocate: Callable[[], int],
    tcp_services: Sequence[tuple[str, str, int]] = (),
) -> list[Instance]:
    """Lay out instances: one per replica of (namespace, name, service account, labels, replicas, ports).

    `ports` are (name, containerPort) pairs; `tcp_services` are (namespace, service, port) of non-HTTP
    service ports every instance gets a local upstream port for.
    """
    result = []
    for namespace, name, service_account, labels, replicas, ports in workloads:
        for index in range(replicas):
            tcp = tuple(TcpUpstream(ns, svc, port, allocate()) for ns, svc, port in tcp_services)
            result.append(
                Instance(
                    namespace=namespace,
                    workload=name,
                    name=f"{name}-{index}",
                    service_account=service_account,
                    labels=tuple(labels.items()),
                    admin_port=allocate(),
                    outbound_http_port=allocate(),
                    inbound=_inbound_ports(ports, allocate),
                    tcp_upstreams=tcp,
                )
            )
    return result


def counter(start: int) -> Callable[[], int]:
    """A deterministic port allocator (tests and goldens): start, start+1, ..."""
    state = [start - 1]

    def allocate() -> int:
        state[0] += 1
        return state[0]

    return allocate
