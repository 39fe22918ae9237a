"""UDP upstreams of one sidecar: which UDP service ports its app may send datagrams to, and where.

Envoy has no mTLS for UDP, so a UDP service port cannot be guarded by the destination's RBAC the
way TCP and HTTP ports are. Access is enforced on the caller's side instead: a caller's sidecar
gets a local UDP upstream listener for a service port only if `evaluate_access` allows the caller's
identity there (a UDPRoute rule covering the port, or `open` mode). The sidecar's config is
delivered only to the node that authenticated with that identity's xDS credential, so another
workload cannot obtain the listener; see docs/architecture.md (access control) for what this does
and does not prove.
"""

from __future__ import annotations

from dataclasses import dataclass

from smimesh.mesh.access import evaluate_access
from smimesh.mesh.model import Instance, MeshModel, Protocol, ServiceKey


@dataclass(frozen=True, slots=True, order=True)
class UdpUpstreamSpec:
    """A local UDP port of a caller's sidecar, forwarding to the sidecars serving one UDP service port."""

    local_port: int
    host: str
    service: ServiceKey
    port: int
    endpoints: tuple[tuple[str, int], ...]  # the destination sidecars' inbound UDP listeners


def udp_upstreams(model: MeshModel, inst: Instance) -> tuple[UdpUpstreamSpec, ...]:
    """The UDP upstreams `inst` announced that its identity may use, in a stable order."""
    specs = []
    for up in inst.tcp_upstreams:  # the runtime gives every non-HTTP service port a local port
        service = model.service(up.service_key)
        svc_port = service.port(up.port) if service else None
        if svc_port is None or svc_port.protocol is not Protocol.UDP:
            continue
        if evaluate_access(model, inst.identity, up.service_key, up.port).allowed:
            specs.append(
                UdpUpstreamSpec(up.local_port, inst.host, up.service_key, up.port, svc_port.addresses)
            )
    return tuple(sorted(specs))
