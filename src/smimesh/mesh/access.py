"""Access rules (the model side of TrafficTarget) and their one evaluation function.

Owns `TrafficPolicy` (one TrafficTarget resolved against its routes), `PortCover` and
`evaluate_access`, which the RBAC generator and `smimesh explain` share so they can never disagree.
Semantics follow SPEC-DIGEST §3.6 with the §8 recommendations: default deny; per destination port,
HTTP ports need a matching HTTPRouteGroup rule (narrowed by the target's TCPRoute ports if it has
any), TCP ports need a TCPRoute rule covering the port, UDP ports a UDPRoute rule; ports are the
destination's container ports (A6); `pathRegex` is start-anchored and end-open on the path (A3);
header values must match fully (A4); a missing header never matches. Two of these readings can be
switched in MeshConfig (`model.semantics`, `AccessSemantics`): `pathRegex` matching the whole path,
and a TCPRoute-only target admitting HTTP on the HTTP ports it covers (`l4_admits_http`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import re2

from smimesh.mesh.model import (
    DEFAULT_SEMANTICS,
    AccessSemantics,
    HttpMatch,
    Identity,
    MeshModel,
    Protocol,
    ServiceKey,
)
from smimesh.resources.envoy_limits import envoy_path_regex


@dataclass(frozen=True, slots=True)
class PortCover:
    """The ports a set of TCPRoute/UDPRoute rules covers; `every_port` for `ports: []` or pre-v1alpha4."""

    every_port: bool = False
    ports: frozenset[int] = frozenset()

    def covers(self, port: int) -> bool:
        return self.every_port or port in self.ports

    def union(self, other: PortCover) -> PortCover:
        return PortCover(self.every_port or other.every_port, self.ports | other.ports)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """An HTTPRouteGroup match selected by a TrafficTarget rule (group name kept for explanations)."""

    group: str
    match: HttpMatch


@dataclass(frozen=True, slots=True)
class TrafficPolicy:
    """One TrafficTarget, resolved: who (sources) may reach whom (destination) with what (rules).

    `tcp`/`udp` are None when the target has no rule of that kind; `has_http_rules` says whether it
    has any HTTPRouteGroup rule (a rule whose group is missing selects no match but still counts).
    """

    namespace: str
    name: str
    destination: Identity
    sources: frozenset[Identity]
    http: tuple[RouteMatch, ...] = ()
    has_http_rules: bool = False
    tcp: PortCover | None = None
    udp: PortCover | None = None
    port_limit: int | None = None  # v1alpha1/v1alpha2 destination.port kept by conversion: an extra AND

    kind: str = "TrafficTarget"  # or IngressBackend (mesh/ingress.py), which also allows by identity

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def of(method: str, path: str, headers: Mapping[str, str] | None = None) -> HttpRequest:
        pairs = tuple(sorted((k.lower(), v) for k, v in (headers or {}).items()))
        return HttpRequest(method.upper(), path, pairs)


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict for one destination identity on one container port, and what decided it."""

    destination: Identity
    container_port: int
    allowed: bool
    policy: str = ""  # "TrafficTarget/ns/name" that allowed it, or "" when denied
    rule: str = ""  # "HTTPRouteGroup/name#match", "TCPRoute ports", ...
    reason: str = ""
    note: str = ""  # set by `explain` when a MeshConfig semantics switch decided this case


@dataclass(frozen=True, slots=True)
class AccessVerdict:
    """The answer of `evaluate_access`: allowed only if every endpoint identity allows the request."""

    allowed: bool
    reason: str
    decisions: tuple[Decision, ...] = ()


def path_pattern(regex: str, full: bool) -> str:
    """The RE2 pattern Envoy and `explain` full-match on the path: `regex` itself (OSM's whole-path
    reading) or `(?:regex).*` (start-anchored, end-open: the spec's reading)."""
    return f"(?:{regex})" if full else envoy_path_regex(regex)


def _path_matches(regex: str, path: str, full: bool) -> bool:
    if not regex:
        return True
    return re2.fullmatch(path_pattern(regex, full), path.split("?", 1)[0]) is not None


def _header_matches(conditions: tuple[tuple[str, str], ...], headers: Mapping[str, str]) -> bool:
    for name, regex in conditions:
        value = headers.get(":authority" if name == "host" else name, headers.get(name))
        if value is None or re2.fullmatch(regex, value) is None:
            return False
    return True


def request_matches(
    match: HttpMatch, request: HttpRequest, semantics: AccessSemantics = DEFAULT_SEMANTICS
) -> bool:
    """Does one HTTPMatch accept the request (path ∧ method ∧ every header)?"""
    if not match.any_method and request.method not in match.methods:
        return False
    return _path_matches(match.path_regex, request.path, semantics.path_regex_full) and _header_matches(
        match.headers, dict(request.headers)
    )


def l4_admits_http(policy: TrafficPolicy, port: int, semantics: AccessSemantics) -> bool:
    """With `tcpRouteAdmitsHttp`, a target with TCPRoute rules and no HTTPRouteGroup rule admits any
    HTTP on the ports they cover. A target with both keeps the spec's reading (TCPRoute ports narrow
    its HTTP rules), so the spec's own example still allows only its HTTP matches."""
    covered = policy.tcp is not None and policy.tcp.covers(port)
    return semantics.tcp_route_admits_http and covered and not policy.has_http_rules


L4_HTTP_RULE = "TCPRoute ports, admitting HTTP at L4 (MeshConfig tcpRouteAdmitsHttp: true)"


def decide(
    policy: TrafficPolicy,
    port: int,
    protocol: Protocol,
    request: HttpRequest | None,
    semantics: AccessSemantics = DEFAULT_SEMANTICS,
) -> str | None:
    """The rule of `policy` that allows traffic on container `port`, or None (source already checked)."""
    if policy.port_limit is not None and policy.port_limit != port:
        return None
    if protocol is Protocol.UDP:
        return "UDPRoute ports" if policy.udp is not None and policy.udp.covers(port) else None
    if not protocol.is_http:
        return "TCPRoute ports" if policy.tcp is not None and policy.tcp.covers(port) else None
    if l4_admits_http(policy, port, semantics):
        return L4_HTTP_RULE
    if policy.tcp is not None and not policy.tcp.covers(port):
        return None
    for selected in policy.http:
        if request is None or request_matches(selected.match, request, semantics):
            return f"HTTPRouteGroup/{selected.group}#{selected.match.name}"
    return None


def decide_identity(
    policies: tuple[TrafficPolicy, ...],
    source: Identity,
    destination: Identity,
    port: int,
    protocol: Protocol,
    request: HttpRequest | None,
    semantics: AccessSemantics = DEFAULT_SEMANTICS,
) -> Decision:
    """Default deny: the first policy (in model order) naming `source` whose rules allow the traffic."""
    candidates = [p for p in policies if p.destination == destination]
    if not candidates:
        return Decision(destination, port, False, reason=f"no TrafficTarget has destination {destination}")
    for policy in candidates:
        if source not in policy.sources:
            continue
        rule = decide(policy, port, protocol, request, semantics)
        if rule is not None:
            return Decision(destination, port, True, policy.ref, rule, "allowed")
    named = [p.ref for p in candidates if source in p.sources]
    why = (
        f"{', '.join(named)} name {source} but no rule matches"
        if named
        else f"no TrafficTarget lets {source} in"
    )
    return Decision(destination, port, False, reason=why)


def evaluate_access(
    model: MeshModel,
    source: Identity,
    service: ServiceKey,
    port: int,
    method: str | None = None,
    path: str = "/",
    headers: Mapping[str, str] | None = None,
) -> AccessVerdict:
    """May `source` send this request to `service:port`? Checked against every endpoint's identity.

    `method=None` asks about the connection only (for HTTP ports: does any route allow anything).
    """
    svc = model.service(service)
    svc_port = svc.port(port) if svc else None
    if svc is None or svc_port is None:
        return AccessVerdict(False, f"no service port {service}:{port} in the mesh")
    if model.permissive:
        return AccessVerdict(True, "permissive mode: access control is off")
    request = HttpRequest.of(method, path, headers) if method else None
    targets = sorted({(e.identity, e.container_port) for e in svc_port.endpoints})
    if not targets:
        return AccessVerdict(False, f"{service}:{port} has no endpoints")
    decisions = tuple(
        decide_identity(model.policies, source, ident, cport, svc_port.protocol, request, model.semantics)
        for ident, cport in targets
    )
    allowed = all(d.allowed for d in decisions)
    reason = "allowed" if allowed else next(d.reason for d in decisions if not d.allowed)
    return AccessVerdict(allowed, reason, decisions)


def may_reach(
    policies: tuple[TrafficPolicy, ...], source: Identity, destinations: frozenset[Identity]
) -> bool:
    """Does any policy let `source` reach any of `destinations` at all (client-side visibility)?"""
    return any(p.destination in destinations and source in p.sources for p in policies)
