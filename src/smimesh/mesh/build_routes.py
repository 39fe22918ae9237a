"""Gateway API (GAMMA) HTTPRoutes resolved per parent Service port, as the routes the generators read.

Each (route, rule, match) attached to a Service port becomes one conditional `SplitRoute` with one
`HttpMatch`, ordered by Gateway API precedence (`mesh/gamma.py`: specificity, then the oldest route,
then `namespace/name`, then rule and match order), and the port's `PortSplits` rejects unmatched
requests with 404. A parentRef without `port` attaches to every HTTP port of the Service. Gateway
matches are written in the mesh's match language (the SMI one: `(?:path_regex).*` must match the
whole path, header regexes match whole values), so the generators, `explain` and the export see one
kind of match: Exact `/a` -> `/a$`, PathPrefix `/a` -> `/a(?:/|$)` (per path segment, a trailing
slash ignored), RegularExpression `re` -> `(?:re)$`; header Exact -> the escaped value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from smimesh.diagnostics import Diagnostic, ObjectRef
from smimesh.mesh import codes
from smimesh.mesh.gamma import precedence_key
from smimesh.mesh.model import HttpMatch, Service, ServiceKey
from smimesh.mesh.split import PortSplits, SplitRoute, WeightedBackend
from smimesh.resources.gateway import HTTPRoute, PathMatch, RouteMatch, RouteRule

if TYPE_CHECKING:
    from smimesh.mesh.build import Inputs

Ordered = tuple[tuple[int, ...], int, int, int, SplitRoute]  # (-precedence, route order, rule, match)


def path_regex(path: PathMatch | None) -> str:
    """A Gateway path match in the mesh's start-anchored path-regex language."""
    if path is None or (path.type == "PathPrefix" and path.value.rstrip("/") == ""):
        return ""
    if path.type == "Exact":
        return f"{re.escape(path.value)}$"
    if path.type == "PathPrefix":
        return f"{re.escape(path.value.rstrip('/'))}(?:/|$)"
    return f"(?:{path.value})$"


def http_match(match: RouteMatch, name: str) -> HttpMatch:
    headers = tuple(
        sorted(
            (h.name.lower(), re.escape(h.value) if h.type == "Exact" else h.value)
            for h in match.headers or ()
        )
    )
    methods = (match.method,) if match.method else ()
    return HttpMatch(name, path_regex(match.path), methods, headers)


def _ref(route: HTTPRoute) -> ObjectRef:
    return ObjectRef("HTTPRoute", route.metadata.namespace, route.metadata.name)


def _order(route: HTTPRoute) -> tuple[str, str, str]:
    created = route.metadata.creation_timestamp
    return (created.isoformat() if created else "~", route.metadata.namespace, route.metadata.name)


def _backends(
    route: HTTPRoute,
    rule: RouteRule,
    r_index: int,
    root: ServiceKey,
    services: Mapping[ServiceKey, Service],
    diags: list[Diagnostic],
) -> tuple[WeightedBackend, ...]:
    found = []
    for b_index, ref in enumerate(rule.backend_refs or ()):
        key = ServiceKey(route.metadata.namespace, ref.name)
        service = services.get(key)
        if service is None or ref.port is None or service.port(ref.port) is None:
            what = f"Service {ref.name}" if service is None else f"port {ref.port} of {ref.name}"
            diags.append(
                codes.diag(
                    codes.ROUTE_BACKEND_MISSING,
                    f"backend {what} does not exist: left out",
                    _ref(route),
                    path=f"spec.rules[{r_index}].backendRefs[{b_index}]",
                    value=ref.name,
                )
            )
            continue
        found.append(WeightedBackend(key, ref.port, ref.weight, is_root=key == root))
    return tuple(found)


def _attached_ports(
    route: HTTPRoute, services: Mapping[ServiceKey, Service], diags: list[Diagnostic]
) -> list[tuple[ServiceKey, int]]:
    ports = []
    for index, parent in enumerate(route.spec.parent_refs):
        root = services.get(ServiceKey(route.metadata.namespace, parent.name))
        chosen = [p for p in root.ports if parent.port in (None, p.port)] if root else []
        http = [p for p in chosen if p.protocol.is_http]
        if root is None or not http:
            why = "does not exist" if root is None else f"has no HTTP port {parent.port or ''}".rstrip()
            diags.append(
                codes.diag(
                    codes.ROUTE_PARENT_MISSING,
                    f"parent Service {parent.name} {why}: the route routes nothing there",
                    _ref(route),
                    path=f"spec.parentRefs[{index}]",
                    value=parent.name,
                )
            )
            continue
        ports += [(root.key, p.port) for p in http]
    return ports


def build_http_routes(
    inputs: Inputs, services: Mapping[ServiceKey, Service], diags: list[Diagnostic]
) -> dict[tuple[ServiceKey, int], PortSplits]:
    attached: dict[tuple[ServiceKey, int], list[Ordered]] = {}
    for order, route in enumerate(sorted(inputs.of(HTTPRoute), key=_order)):
        for root, port in _attached_ports(route, services, diags):
            for r_index, rule in enumerate(route.spec.rules):
                backends = _backends(route, rule, r_index, root, services, diags)
                for m_index, match in enumerate(rule.effective_matches):
                    name = f"{rule.name or r_index}.{m_index}"
                    split = SplitRoute(
                        route.metadata.namespace,
                        route.metadata.name,
                        backends,
                        (http_match(match, name),),
                        kind="HTTPRoute",
                    )
                    rank = tuple(-k for k in precedence_key(match.to_dict()))
                    attached.setdefault((root, port), []).append((rank, order, r_index, m_index, split))
    return {
        key: PortSplits(
            key[0],
            key[1],
            tuple(entry[-1] for entry in sorted(entries, key=lambda e: e[:4])),
            reject_unmatched=True,
        )
        for key, entries in attached.items()
    }


def with_http_routes(
    splits: dict[tuple[ServiceKey, int], PortSplits],
    routes: dict[tuple[ServiceKey, int], PortSplits],
    diags: list[Diagnostic],
) -> dict[tuple[ServiceKey, int], PortSplits]:
    """The TrafficSplits' routes, with every port an HTTPRoute routes taken over by it (SM6022)."""
    for (root, port), routed in routes.items():
        replaced = splits.get((root, port))
        for split in replaced.routes if replaced else ():
            by = ", ".join(dict.fromkeys(r.ref for r in routed.routes))
            diags.append(
                codes.diag(
                    codes.SPLIT_AND_ROUTE,
                    f"{root.name}:{port} is also routed by {by}: the HTTPRoute wins, this split is "
                    "ignored there",
                    ObjectRef("TrafficSplit", split.namespace, split.name),
                    hint="delete the TrafficSplit once the HTTPRoute carries its traffic",
                )
            )
    return {**splits, **routes}
