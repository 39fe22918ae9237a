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
from smimesh.mesh.model import Identity, Instance, MeshModel, Protocol, ServiceKey
from smimesh.mesh.visibility import memo


@dataclass(frozen=True, slots=True, order=True)
class UdpUpstreamSpec:
    """A local UDP port of a caller's sidecar, forwarding to the sidecars serving one UDP service port."""

    local_port: int
    host: str
    service: ServiceKey
    port: int
    endpoints: tuple[tuple[str, int], ...]  # the destination sidecars' inbound UDP listeners


def _has_udp(model: MeshModel) -> bool:
    """Per namespace when the model carries its build's groups (a namespace taken whole from the last
    build was not walked again), else over every service port."""
    if model.build_state is not None:
        return any(Protocol.UDP in group.port_protocols for group in model.build_state.namespaces.values())
    return any(p.protocol is Protocol.UDP for s in model.services.values() for p in s.ports)


def has_udp(model: MeshModel) -> bool:
    """Whether any service port of the model is UDP (once per model: most meshes have none)."""
    found: bool = memo(model, "has-udp", lambda: _has_udp(model))
    return found


def udp_upstreams(model: MeshModel, inst: Instance) -> tuple[UdpUpstreamSpec, ...]:
    """The UDP upstreams `inst` announced that its identity may use, in a stable order."""
    if not inst.tcp_upstreams or not has_udp(model):
        return ()
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


def changed_udp_sources(old: MeshModel, new: MeshModel) -> set[Identity]:
    """The callers whose UDP upstreams a policy change may change (for `mesh.impact`).

    An access decision for source S depends only on the policies naming S (allowing needs one; one
    not naming S can neither allow nor deny S), so the sources of the changed policies are enough.
    Reach does not capture this: a UDPRoute's ports can change while who-may-reach-whom stays equal.
    """
    if old.policies is new.policies or not (has_udp(old) or has_udp(new)) or old.policies == new.policies:
        return set()
    changed = set(old.policies) ^ set(new.policies)
    return {source for policy in changed for source in policy.sources}
