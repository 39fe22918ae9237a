"""`explain`: may this workload send this request to that service, which rule decided, and how to allow it.

Owns `explain(...) -> Explanation`. The verdict is `mesh.access.evaluate_access`, the very function
whose per-identity core (`decide`) chooses the rules the RBAC generator (`xds.rbac`) puts into the
destination sidecars, so `explain` and the sidecars cannot disagree by construction (a property
test checks it against real Envoy). On top of the verdict it applies the mesh modes exactly as
the generator does: `open` traffic policy allows everything; a destination namespace in `audit`
lets a denied request through (it is logged). When a MeshConfig semantics switch (`pathRegexMatch`,
`tcpRouteAdmitsHttp`) decided a case (flipping it flips the verdict), the decision's `note` names
it and what the other setting would do. When a request is denied, `suggestion` holds the
smallest manifests that would allow exactly it: one HTTPRouteGroup match (the method, the path
anchored at both ends, the given headers) or one TCPRoute port, and one TrafficTarget per
destination identity from the source's identity only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from smimesh.mesh.access import AccessVerdict, Decision, HttpRequest, decide_identity, evaluate_access
from smimesh.mesh.model import AccessSemantics, Identity, MeshModel, Protocol, ServiceKey, ServicePort
from smimesh.mesh.modes import DEFAULT_MODES, MeshModes


@dataclass(frozen=True, slots=True)
class Explanation:
    allowed: bool  # what the sidecars do (audit mode allows a denied request)
    policy_allows: bool  # what the TrafficTargets say (== allowed unless audit)
    mode: str  # "open", "audit" or "smi"
    source: Identity
    service: ServiceKey
    port: int
    protocol: str
    request: tuple[str, str, tuple[tuple[str, str], ...]] | None  # method, path, headers (HTTP only)
    verdict: AccessVerdict
    suggestion: tuple[dict[str, Any], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "policy_allows": self.policy_allows,
            "mode": self.mode,
            "source": str(self.source),
            "service": f"{self.service.name}.{self.service.namespace}:{self.port}",
            "protocol": self.protocol,
            "request": None
            if self.request is None
            else {
                "method": self.request[0],
                "path": self.request[1],
                "headers": dict(self.request[2]),
            },
            "reason": self.verdict.reason,
            "decisions": [
                {
                    "destination": str(d.destination),
                    "container_port": d.container_port,
                    "allowed": d.allowed,
                    "policy": d.policy,
                    "rule": d.rule,
                    "reason": d.reason,
                    "note": d.note,
                }
                for d in self.verdict.decisions
            ],
            "suggestion": list(self.suggestion),
        }


def default_port(model: MeshModel, service: ServiceKey) -> int | None:
    """The port `SERVICE` without `:PORT` means: 80 if it has it, else its lowest port."""
    found = model.service(service)
    numbers = sorted(p.port for p in found.ports) if found else []
    return 80 if 80 in numbers else (numbers[0] if numbers else None)


# The MeshConfig switches of `AccessSemantics`: field -> (MeshConfig name, value when False/True,
# what each setting means).
_SWITCHES = {
    "path_regex_full": (
        "pathRegexMatch",
        ("start", "a pathRegex matches the start of the path, the SMI reading"),
        ("full", "a pathRegex must match the whole path, as OSM does"),
    ),
    "tcp_route_admits_http": (
        "tcpRouteAdmitsHttp",
        ("false", "a TCPRoute rule admits no HTTP on an HTTP port, as OSM does"),
        ("true", "a TCPRoute-only TrafficTarget admits HTTP on the ports it covers, as Istio and Linkerd do"),
    ),
}


def _switch_note(semantics: AccessSemantics, field_name: str, other_allowed: bool) -> str:
    name, off, on = _SWITCHES[field_name]
    (value, meaning), (other, _) = (on, off) if getattr(semantics, field_name) else (off, on)
    outcome = "allowed" if other_allowed else "denied"
    return f"decided by MeshConfig {name}: {value} ({meaning}); with {name}: {other} it would be {outcome}"


def _noted(
    model: MeshModel, source: Identity, protocol: Protocol, request: HttpRequest, d: Decision
) -> Decision:
    """`d` with a note for each semantics switch whose other setting flips the verdict."""
    notes = []
    for field_name in _SWITCHES:
        flipped = replace(model.semantics, **{field_name: not getattr(model.semantics, field_name)})
        other = decide_identity(
            model.policies, source, d.destination, d.container_port, protocol, request, flipped
        )
        if other.allowed != d.allowed:
            notes.append(_switch_note(model.semantics, field_name, other.allowed))
    if not notes:
        return d
    note = "; ".join(notes)
    return replace(d, note=note, reason=d.reason if d.allowed else f"{d.reason} ({note})")


def _with_notes(
    model: MeshModel, verdict: AccessVerdict, source: Identity, port: ServicePort, request: HttpRequest
) -> AccessVerdict:
    decisions = tuple(_noted(model, source, port.protocol, request, d) for d in verdict.decisions)
    denied = [d.reason for d in decisions if not d.allowed]
    return replace(verdict, decisions=decisions, reason=denied[0] if denied else verdict.reason)


def _mode(model: MeshModel, modes: MeshModes, verdict: AccessVerdict) -> tuple[bool, str]:
    if model.permissive or modes.open:
        return True, "open"
    denied = [d for d in verdict.decisions if not d.allowed]
    if denied and all(modes.audit(d.destination.namespace) for d in denied):
        return True, "audit"
    return verdict.allowed, "smi"


def explain(
    model: MeshModel,
    source: Identity,
    service: ServiceKey,
    port: int | None = None,
    method: str = "GET",
    path: str = "/",
    headers: Mapping[str, str] | None = None,
    *,
    modes: MeshModes = DEFAULT_MODES,
) -> Explanation:
    """The answer for one request (HTTP ports) or one connection (TCP/UDP ports)."""
    number = port if port is not None else default_port(model, service) or 0
    svc = model.service(service)
    svc_port = svc.port(number) if svc else None
    is_http = svc_port is not None and svc_port.protocol.is_http
    if is_http and svc_port is not None:
        verdict = evaluate_access(model, source, service, number, method, path, headers)
        asked = HttpRequest.of(method, path, headers)
        verdict = _with_notes(model, verdict, source, svc_port, asked)
        request = (asked.method, path, asked.headers)
    else:
        verdict, request = evaluate_access(model, source, service, number), None
    allowed, mode = _mode(model, modes, verdict)
    protocol = svc_port.protocol.value if svc_port else "unknown"
    suggestion = (
        () if verdict.allowed or svc_port is None else smallest_allow(source, service, svc_port, request)
    )
    return Explanation(
        allowed, verdict.allowed, mode, source, service, number, protocol, request, verdict, suggestion
    )


_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")


def _escape(text: str) -> str:
    """`text` as an RE2 regex matching exactly it (only metacharacters escaped, so it stays readable)."""
    return "".join(f"\\{c}" if c in _REGEX_SPECIAL else c for c in text)


def _name(*parts: str) -> str:
    text = "-".join(p for p in parts if p)
    cleaned = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return cleaned[:63].rstrip("-") or "explain"


def _http_route(
    name: str, namespace: str, request: tuple[str, str, tuple[tuple[str, str], ...]]
) -> dict[str, Any]:
    method, path, headers = request
    match: dict[str, Any] = {
        "name": "only-this",
        "pathRegex": f"{_escape(path.split('?', 1)[0])}$",
        "methods": [method],
    }
    if headers:
        match["headers"] = {k: _escape(v) for k, v in headers}
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"matches": [match]},
    }


def _tcp_route(name: str, namespace: str, container_ports: list[int], udp: bool) -> dict[str, Any]:
    kind = "UDPRoute" if udp else "TCPRoute"
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"matches": {"ports": container_ports}},
    }


def smallest_allow(
    source: Identity,
    service: ServiceKey,
    port: ServicePort,
    request: tuple[str, str, tuple[tuple[str, str], ...]] | None,
) -> tuple[dict[str, Any], ...]:
    """Manifests that allow exactly this request from `source` and nothing more (none without endpoints)."""
    documents: list[dict[str, Any]] = []
    for destination in sorted({e.identity for e in port.endpoints}):
        ports = sorted({e.container_port for e in port.endpoints if e.identity == destination})
        name = _name("allow", source.service_account, "to", destination.service_account, str(port.port))
        if port.protocol.is_http and request is not None:
            route = _http_route(name, destination.namespace, request)
            rule = {"kind": "HTTPRouteGroup", "name": name, "matches": ["only-this"]}
        else:
            route = _tcp_route(name, destination.namespace, ports, port.protocol is Protocol.UDP)
            rule = {"kind": route["kind"], "name": name}
        target = {
            "apiVersion": "access.smi-spec.io/v1alpha3",
            "kind": "TrafficTarget",
            "metadata": {"name": name, "namespace": destination.namespace},
            "spec": {
                "destination": {
                    "kind": "ServiceAccount",
                    "name": destination.service_account,
                    "namespace": destination.namespace,
                },
                "rules": [rule],
                "sources": [
                    {"kind": "ServiceAccount", "name": source.service_account, "namespace": source.namespace}
                ],
            },
        }
        documents += [route, target]
    return tuple(documents)


# Shared with `mesh.suggest` (policy from observed traffic writes the same kind of manifests).
escape_regex = _escape
resource_name = _name
