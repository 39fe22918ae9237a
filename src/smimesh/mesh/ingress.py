"""The local mesh's ingress: where `smimesh up --ingress HOST:PORT` listens, what it routes, who it is.

Owns the ingress's identity (ServiceAccount `smimesh-ingress` in namespace `smimesh-system`: a
TrafficTarget source like any other), the labels by which the runtime marks its instance and tells
its address, the resolution of Kubernetes Ingress rules into `IngressRoute`s (`build_ingress`), the
access an OSM IngressBackend grants, as `TrafficPolicy`s the RBAC generator and `explain` read like
TrafficTargets (`ingress_policies`), and `ingress_view(model, instance)` for the generator.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smimesh.diagnostics import Diagnostic, ObjectRef, Severity, register
from smimesh.mesh.access import RouteMatch, TrafficPolicy
from smimesh.mesh.build_policies import http_match
from smimesh.mesh.model import HttpMatch, Identity, Instance, Service, ServiceKey
from smimesh.resources.ingress import Ingress, IngressBackend, IngressBackendRef
from smimesh.resources.specs import HTTPRouteGroup
from smimesh.settings import LOOPBACK

INGRESS_NAMESPACE = "smimesh-system"
INGRESS_WORKLOAD = "ingress"
INGRESS_ACCOUNT = "smimesh-ingress"
INGRESS_IDENTITY = Identity(INGRESS_NAMESPACE, INGRESS_ACCOUNT)
HOST_LABEL = "smimesh.io/ingress-host"
PORT_LABEL = "smimesh.io/ingress-port"
INGRESS_KINDS = (Ingress, IngressBackend)

NO_BACKEND = register(
    "SM6803",
    "Ingress backend is not a Service port",
    Severity.WARNING,
    """An Ingress path or an IngressBackend names a Service (or a port of it) that does not exist;
    the ingress answers 503 for that path until it does.""",
).code


@dataclass(frozen=True, slots=True, order=True)
class IngressRoute:
    """One Ingress path: `host` ("" = any), `path` and how it matches, the Service port it goes to."""

    host: str
    rank: tuple[int, int]  # Exact before Prefix, longer prefixes first (Kubernetes' precedence)
    path: str
    exact: bool
    service: ServiceKey
    port: int


@dataclass(frozen=True, slots=True)
class IngressView:
    host: str
    port: int
    routes: tuple[IngressRoute, ...]


def _warn(obj: Any, message: str, path: str) -> Diagnostic:
    ref = ObjectRef(obj.KIND, obj.metadata.namespace, obj.metadata.name)
    return Diagnostic(NO_BACKEND, message, Severity.WARNING, object=ref, path=path)


def _service_port(
    services: Mapping[ServiceKey, Service], key: ServiceKey, name: str | None, number: int | None
) -> int | None:
    service = services.get(key)
    for port in service.ports if service else ():
        if port.port == number or (name is not None and port.name == name):
            return port.port
    return None


def _route(
    obj: Ingress,
    backend: IngressBackendRef,
    host: str,
    path: str,
    kind: str,
    where: str,
    services: Mapping[ServiceKey, Service],
    diags: list[Diagnostic],
) -> IngressRoute | None:
    ref = backend.service
    if ref is None:
        return None
    key = ServiceKey(obj.metadata.namespace, ref.name)
    port = _service_port(services, key, ref.port.name, ref.port.number)
    if port is None:
        diags.append(_warn(obj, f"no Service port {key}:{ref.port.number or ref.port.name}", where))
        port = 0  # routed to a 503 naming what is missing
    exact = kind == "Exact"
    return IngressRoute(host, (0, 0) if exact else (1, -len(path)), path, exact, key, port)


def build_ingress(
    inputs: Any, services: Mapping[ServiceKey, Service], diags: list[Diagnostic]
) -> tuple[IngressRoute, ...]:
    """Every Ingress path of the mesh, in match order (per host; the any-host rules after the named)."""
    found = []
    for obj in inputs.of(Ingress):
        spec = obj.spec
        for r, rule in enumerate(spec.rules):
            for p, item in enumerate(rule.http.paths if rule.http else ()):
                where = f"spec.rules[{r}].http.paths[{p}].backend"
                found.append(
                    _route(
                        obj,
                        item.backend,
                        rule.host or "",
                        item.path or "/",
                        item.path_type,
                        where,
                        services,
                        diags,
                    )
                )
        if spec.default_backend is not None:
            found.append(
                _route(obj, spec.default_backend, "", "/", "Prefix", "spec.defaultBackend", services, diags)
            )
    routes = sorted(r for r in found if r is not None)
    return tuple(sorted(routes, key=lambda r: r.host == ""))  # stable: named hosts first


# --- IngressBackend: access for the ingress ----------------------------------------------------------
def _principal(name: str) -> Identity | None:
    """`spiffe://TD/ns/NS/sa/SA`, or `SA.NS[.svc].cluster.local` as OSM's examples write it."""
    if name.startswith("spiffe://"):
        parts = name.split("/")
        return (
            Identity(parts[4], parts[6])
            if len(parts) == 7 and parts[3] == "ns" and parts[5] == "sa"
            else None
        )
    parts = name.split(".")
    return Identity(parts[1], parts[0]) if len(parts) >= 3 else None


def _sources(obj: IngressBackend, services: Mapping[ServiceKey, Service]) -> frozenset[Identity]:
    found: set[Identity] = set()
    for source in obj.spec.sources:
        if source.kind == "AuthenticatedPrincipal" and (identity := _principal(source.name)):
            found.add(identity)
        elif source.kind == "IPRange" and ipaddress.ip_address(LOOPBACK) in ipaddress.ip_network(
            source.name, strict=False
        ):
            found.add(INGRESS_IDENTITY)  # in local mode the ingress connects from loopback
        elif source.kind == "Service" and (source.namespace, source.name) == (
            INGRESS_NAMESPACE,
            INGRESS_ACCOUNT,
        ):
            found.add(INGRESS_IDENTITY)
        elif source.kind == "Service":
            service = services.get(ServiceKey(source.namespace or obj.metadata.namespace, source.name))
            found.update(service.identities if service else ())
    return frozenset(found)


def _matches(obj: IngressBackend, inputs: Any) -> tuple[RouteMatch, ...]:
    if not obj.spec.matches:
        return (RouteMatch(f"IngressBackend/{obj.metadata.name}", HttpMatch("*")),)
    found: list[RouteMatch] = []
    for ref in obj.spec.matches:
        group = inputs.named(HTTPRouteGroup, obj.metadata.namespace, ref.name)
        found.extend(RouteMatch(ref.name, http_match(m)) for m in (group.spec.matches if group else ()))
    return tuple(found)


def ingress_policies(
    inputs: Any, services: Mapping[ServiceKey, Service], diags: list[Diagnostic]
) -> tuple[TrafficPolicy, ...]:
    """One policy per (IngressBackend, backend port, destination identity): the ingress may call it."""
    found = []
    for obj in inputs.of(IngressBackend):
        sources, matches = _sources(obj, services), _matches(obj, inputs)
        for index, backend in enumerate(obj.spec.backends):
            service = services.get(ServiceKey(obj.metadata.namespace, backend.name))
            if service is None:
                diags.append(
                    _warn(
                        obj, f"no Service {obj.metadata.namespace}/{backend.name}", f"spec.backends[{index}]"
                    )
                )
                continue
            for identity, container_port in _targets(service, backend.port.number):
                found.append(
                    TrafficPolicy(
                        obj.metadata.namespace,
                        obj.metadata.name,
                        identity,
                        sources,
                        matches,
                        True,
                        port_limit=container_port,
                        kind="IngressBackend",
                    )
                )
    return tuple(found)


def _targets(service: Service, number: int) -> set[tuple[Identity, int]]:
    """The (identity, container port) pairs behind port `number` of `service` (its port, or its target)."""
    found = set()
    for port in service.ports:
        for endpoint in port.endpoints:
            if number in (port.port, endpoint.container_port):
                found.add((endpoint.identity, endpoint.container_port))
    return found


# --- the ingress's own view ---------------------------------------------------------------------------
def ingress_view(routes: tuple[IngressRoute, ...], inst: Instance) -> IngressView | None:
    labels = inst.label_map
    if inst.identity != INGRESS_IDENTITY or PORT_LABEL not in labels:
        return None
    return IngressView(labels.get(HOST_LABEL, LOOPBACK), int(labels[PORT_LABEL]), routes)
