"""From resources to running instances and back to the mesh: the runtime's two translations.

Owns (1) which instances the Workloads in a snapshot ask for (`desired_from_snapshot`), (2) which
service ports are not HTTP and so need a local TCP upstream port in every instance
(`tcp_upstream_keys`), and (3) the `mesh.Instance` values the pipeline builds config from
(`mesh_instance`): the same ports the processes really got.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smimesh.local.env import parse_upstream_key, tcp_upstream_key, udp_upstream_key
from smimesh.local.plan import InstanceSpec, WorkloadSpec, desired_instances, workload_spec
from smimesh.local.ports import InstancePorts
from smimesh.mesh import InboundPort, Instance, Protocol, TcpUpstream
from smimesh.mesh.protocols import protocol_of
from smimesh.resources.core import Service
from smimesh.resources.workload import Workload


def workloads_from_snapshot(snapshot: Any, default_dir: Path) -> list[WorkloadSpec]:
    """Every Workload of the snapshot as a `WorkloadSpec` (cwd resolved against its manifest's directory)."""
    locations = getattr(snapshot, "locations", {}) or {}
    specs = []
    for resource in snapshot.of_kind(Workload):
        location = locations.get(resource.key)
        manifest = getattr(location, "file", None)
        specs.append(workload_spec(resource, manifest, default_dir))
    return specs


def desired_from_snapshot(snapshot: Any, default_dir: Path) -> dict[str, InstanceSpec]:
    return desired_instances(workloads_from_snapshot(snapshot, default_dir))


def tcp_upstream_keys(snapshot: Any) -> list[str]:
    """`service.namespace:port` of every service port that is not HTTP, with `/udp` for a UDP one
    (sorted, stable)."""
    keys = set()
    for service in snapshot.of_kind(Service):
        for port in service.spec.ports:
            protocol = protocol_of(port.name, port.app_protocol, port.protocol)
            if not protocol.is_http:
                key = udp_upstream_key if protocol is Protocol.UDP else tcp_upstream_key
                keys.add(key(service.metadata.name, service.metadata.namespace, port.port))
    return sorted(keys)


def mesh_instance(
    spec: InstanceSpec, ports: InstancePorts, tcp_keys: list[str] | None = None, *, serving: bool = True
) -> Instance:
    """The `mesh.Instance` of a running (or about to run) instance, with its real ports.

    `tcp_keys` limits the TCP upstreams to the service ports that exist now (an instance keeps the
    ports of upstreams that went away, in case they come back). An instance that is not `serving`
    yet (starting, or restarting after a crash) is given without labels: no Service selects it, so
    it is no endpoint and gets no traffic, while its own sidecar already gets its config — the
    readiness gate of the local runtime.
    """
    workload = spec.workload
    wanted = set(ports.tcp_upstreams if tcp_keys is None else tcp_keys)
    inbound = tuple(
        InboundPort(name, port.container_port, ports.app[name], ports.inbound[name])
        for name, port in zip(spec.port_names, workload.ports, strict=True)
    )
    return Instance(
        namespace=workload.namespace,
        workload=workload.name,
        name=spec.name,
        service_account=workload.service_account,
        labels=workload.labels if serving else (),
        admin_port=ports.admin,
        outbound_http_port=ports.outbound_http,
        inbound=inbound,
        tcp_upstreams=tuple(
            _tcp_upstream(key, port) for key, port in sorted(ports.tcp_upstreams.items()) if key in wanted
        ),
        node_id=spec.node_id,
    )


def _tcp_upstream(key: str, local_port: int) -> TcpUpstream:
    service, namespace, port, udp = parse_upstream_key(key)
    return TcpUpstream(namespace, service, port, local_port, udp)
