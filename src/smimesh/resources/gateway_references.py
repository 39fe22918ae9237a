"""Cross-object checks of Gateway API HTTPRoutes (SM406x), run by `validate_references` with the others.

A parent or backend Service (or port) that does not exist, and a Service port that both a TrafficSplit
and an HTTPRoute route (the HTTPRoute wins: the same rule the mesh applies, SM6022 at run time).
"""

from __future__ import annotations

from collections.abc import Callable

from smimesh.resources import codes_gateway as codes
from smimesh.resources.core import Service
from smimesh.resources.gateway import HTTPRoute
from smimesh.resources.snapshot import InputSnapshot
from smimesh.resources.split import TrafficSplit

Report = Callable[..., None]  # (resource, code, message, path, value=None, hint="")


def check_http_routes(snapshot: InputSnapshot, report: Report) -> None:
    routed: dict[tuple[str, str, int], str] = {}
    for route in snapshot.of_kind(HTTPRoute):
        for parent, number in _parents(snapshot, route, report):
            routed.setdefault((route.metadata.namespace, parent, number), route.metadata.name)
        _backends(snapshot, route, report)
    for split in snapshot.of_kind(TrafficSplit):
        root = snapshot.find(Service, split.metadata.namespace, split.root)
        for service_port in root.spec.ports if root else ():
            by = routed.get((split.metadata.namespace, split.root, service_port.port))
            if by is not None:
                report(
                    split,
                    codes.SPLIT_AND_ROUTE,
                    f"{split.root}:{service_port.port} is also routed by HTTPRoute {by!r}: "
                    "the HTTPRoute wins there",
                    ("spec", "service"),
                    split.spec.service,
                    "delete the TrafficSplit once the HTTPRoute carries its traffic",
                )


def _parents(snapshot: InputSnapshot, route: HTTPRoute, report: Report) -> list[tuple[str, int]]:
    found = []
    for index, parent in enumerate(route.spec.parent_refs):
        if parent.group != "" or parent.kind != "Service":
            continue  # refused by the object's own checks (SM3060)
        service = snapshot.find(Service, route.metadata.namespace, parent.name)
        ports = [p.port for p in service.spec.ports if parent.port in (None, p.port)] if service else []
        if not ports:
            what = f"Service {parent.name!r}" if service is None else f"port {parent.port} of {parent.name!r}"
            report(
                route,
                codes.MISSING_PARENT,
                f"{what} does not exist in namespace {route.metadata.namespace!r}",
                ("spec", "parentRefs", index),
                parent.name,
                "create it, or fix the name or port",
            )
        found += [(parent.name, p) for p in ports]
    return found


def _backends(snapshot: InputSnapshot, route: HTTPRoute, report: Report) -> None:
    for r, rule in enumerate(route.spec.rules):
        for b, backend in enumerate(rule.backend_refs or ()):
            if backend.group != "" or backend.kind != "Service" or backend.port is None:
                continue  # SM3062
            service = snapshot.find(Service, route.metadata.namespace, backend.name)
            if service is None or all(p.port != backend.port for p in service.spec.ports):
                what = (
                    f"Service {backend.name!r}"
                    if service is None
                    else f"port {backend.port} of {backend.name!r}"
                )
                report(
                    route,
                    codes.MISSING_ROUTE_BACKEND,
                    f"backend {what} does not exist",
                    ("spec", "rules", r, "backendRefs", b),
                    backend.name,
                    "create it, or fix the name or port",
                )
