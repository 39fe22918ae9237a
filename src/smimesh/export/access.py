"""Which container ports of a TrafficTarget's destination each kind of rule opens (SMI semantics).

`mesh.access.decide` allows an HTTP port when an HTTPRouteGroup match allows the request and the
target's TCPRoutes (if any) cover the port, a TCP port when a TCPRoute covers it, a UDP port when
a UDPRoute does, all ANDed with a legacy `destination.port`. Targets attach matches to ports, so
the exporters need those ports as numbers: `port_plan` lists them from the Services that reach the
destination's pods. Nothing is guessed: unknown ports are a loss, reported by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.output import Output
from smimesh.export.world import World
from smimesh.mesh.access import TrafficPolicy
from smimesh.mesh.model import Protocol


@dataclass(frozen=True, slots=True)
class PortPlan:
    http: tuple[int, ...]  # container ports where the HTTP matches apply
    tcp: tuple[int, ...]  # container ports a TCPRoute opens to any byte
    known: tuple[int, ...]  # every container port of the destination some Service reaches
    udp_refused: bool  # the target has UDPRoute rules (no target authorizes UDP)


def port_plan(world: World, policy: TrafficPolicy) -> PortPlan:
    ports = world.container_ports(policy.destination)

    def allowed(port: int) -> bool:
        return policy.port_limit is None or policy.port_limit == port

    http = tuple(
        p
        for p, proto in ports.items()
        if proto.is_http
        and allowed(p)
        and policy.has_http_rules
        and (policy.tcp is None or policy.tcp.covers(p))
    )
    tcp = tuple(
        p
        for p, proto in ports.items()
        if proto is Protocol.TCP and allowed(p) and policy.tcp is not None and policy.tcp.covers(p)
    )
    return PortPlan(http, tcp, tuple(ports), policy.udp is not None)


def trust_principal(world: World, namespace: str, account: str) -> str:
    """Istio's principal form: the SPIFFE id without `spiffe://`."""
    return f"{world.model.trust_domain}/ns/{namespace}/sa/{account}"


def target_ref(policy: TrafficPolicy) -> ObjectRef:
    return ObjectRef("TrafficTarget", policy.namespace, policy.name)


def resolve(
    world: World, policy: TrafficPolicy, mesh: str, out: Output
) -> tuple[dict[str, str], PortPlan] | None:
    """The destination's pod selector and port plan, or None (reported) when the policy cannot be exported."""
    ref = target_ref(policy)
    selector, why = world.selector_for(policy.destination)
    if selector is None:
        out.report(
            ref, codes.finding(codes.NO_SELECTOR, f"not exported: {why}", ref, path="spec.destination")
        )
        return None
    plan = port_plan(world, policy)
    if plan.udp_refused:
        message = f"{mesh} does not authorize UDP: UDPRoute rules not exported"
        out.report(ref, codes.finding(codes.PORTS_REFUSED, message, ref))
    if not plan.known:
        message = f"no Service in the input reaches the pods of {policy.destination}: their ports are unknown"
        out.report(ref, codes.finding(codes.PORTS_REFUSED, message, ref))
        return None
    return selector, plan
