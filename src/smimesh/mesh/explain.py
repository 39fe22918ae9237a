"""`explain`: may this workload send this request to that service, which rule decided, and how to allow it.

Owns `explain(...) -> Explanation`. The verdict is `mesh.access.evaluate_access`, the very function
whose per-identity core (`decide`) chooses the rules the RBAC generator (`xds.rbac`) puts into the
destination sidecars, so `explain` and the sidecars cannot disagree by construction (a property
test checks it against real Envoy). On top of the verdict it applies the mesh modes exactly as
the generator does: `open` traffic policy allows everything; a destination namespace in `audit`
lets a denied request through (it is logged). When a request is denied, `suggestion` holds the
smallest manifests that would allow exactly it: one HTTPRouteGroup match (the method, the path
anchored at both ends, the given headers) or one TCPRoute port, and one TrafficTarget per
destination identity from the source's identity only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from smimesh.mesh.access import AccessVerdict, evaluate_access
from smimesh.mesh.model import Identity, MeshModel, Protocol, ServiceKey, ServicePort
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
    if is_http:
        verdict = evaluate_access(model, source, service, number, method, path, headers)
        request = (method.upper(), path, tuple(sorted((k.lower(), v) for k, v in (headers or {}).items())))
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
