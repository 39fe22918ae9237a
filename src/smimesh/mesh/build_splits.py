"""TrafficSplits resolved per root service port (SPEC-DIGEST §4.6, §8 A9–A14), with what was dropped.

Owns the translation of TrafficSplit resources into `PortSplits`: the root must be a Service in the
split's namespace (named as `TrafficSplit.root` and `local_name()` read it: `web` or `web.<ns>[.svc...]`);
per root port a backend takes part only if it exists and has a port with the same number; the root listed
as a backend means the root's own endpoints; at most one unconditional split per root (first by creation
time, then name); conditional splits keep that order too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from smimesh.diagnostics import Diagnostic, ObjectRef
from smimesh.mesh import codes
from smimesh.mesh.build_policies import http_match
from smimesh.mesh.model import HttpMatch, Protocol, Service, ServiceKey
from smimesh.mesh.split import PortSplits, SplitRoute, WeightedBackend
from smimesh.resources.specs import HTTPRouteGroup
from smimesh.resources.split import TrafficSplit

if TYPE_CHECKING:
    from smimesh.mesh.build import Inputs


def _ref(split: TrafficSplit) -> ObjectRef:
    return ObjectRef("TrafficSplit", split.metadata.namespace, split.metadata.name)


def _order(split: TrafficSplit) -> tuple[str, str]:
    created = split.metadata.creation_timestamp
    return (created.isoformat() if created else "~", split.metadata.name)


def _matches(split: TrafficSplit, inputs: Inputs) -> tuple[HttpMatch, ...] | None:
    """The split's match set; None when it has matches but none exist (then it applies to nothing)."""
    if not split.spec.matches:
        return ()
    found: list[HttpMatch] = []
    for ref in split.spec.matches:
        group: HTTPRouteGroup | None = inputs.named(HTTPRouteGroup, split.metadata.namespace, ref.name)
        if group is not None:  # a missing one matches nothing (SM4003 from resources.references)
            found.extend(http_match(m) for m in group.spec.matches)
    return tuple(found) if found else None


def _backends(
    split: TrafficSplit,
    root: Service,
    port: int,
    services: Mapping[ServiceKey, Service],
) -> tuple[WeightedBackend, ...]:
    eligible = []
    ns = split.metadata.namespace
    for backend in split.spec.backends:
        key = ServiceKey(ns, split.local_name(backend.service))
        svc = services.get(key)
        # Missing, or without the port: left out (SM4005 / SM4006 from resources.references).
        if svc is not None and svc.port(port) is not None:
            eligible.append(WeightedBackend(key, port, backend.weight, is_root=key == root.key))
    return tuple(eligible)


def _routes(
    split: TrafficSplit, inputs: Inputs, services: Mapping[ServiceKey, Service], diags: list[Diagnostic]
) -> list[tuple[int, SplitRoute]]:
    ns, name = split.metadata.namespace, split.metadata.name
    root = services.get(ServiceKey(ns, split.root))
    if root is None:
        return []  # the split does nothing until its root exists (SM4004)
    matches = _matches(split, inputs)
    if matches is None:
        return []
    if any(split.local_name(b.service) == root.key.name for b in split.spec.backends):
        diags.append(
            codes.diag(
                codes.SPLIT_SELF_BACKEND,
                "the root is also a backend: its own endpoints",
                _ref(split),
                path="spec.backends",
            )
        )
    routes = []
    for port in (p for p in root.ports if p.protocol is not Protocol.UDP):
        backends = _with_cookie(split, _backends(split, root, port.port, services))
        route = SplitRoute(ns, name, backends, matches, mirror=_mirror(split, port.port))
        routes.append((port.port, route))
    return routes


SET_COOKIE_ANNOTATION = "smimesh.io/set-cookie"  # "<backend>=<Set-Cookie value>" (issue 14)


def _with_cookie(split: TrafficSplit, backends: tuple[WeightedBackend, ...]) -> tuple[WeightedBackend, ...]:
    """Session affinity: answers from the named backend get the Set-Cookie (the canary controller
    writes the annotation; a request carrying the cookie is routed back by a split with matches)."""
    service, _, cookie = split.metadata.annotations.get(SET_COOKIE_ANNOTATION, "").partition("=")
    if not cookie:
        return backends
    return tuple(
        dataclasses.replace(b, set_cookie=cookie) if b.service.name == split.local_name(service) else b
        for b in backends
    )


MIRROR_ANNOTATION = "smimesh.io/mirror"  # "<backend>" or "<backend>:<percent>" (issue 14)


def _mirror(split: TrafficSplit, port: int) -> WeightedBackend | None:
    service, _, percent = split.metadata.annotations.get(MIRROR_ANNOTATION, "").partition(":")
    if not service:
        return None
    share = int(percent) if percent.isdigit() else 100
    key = ServiceKey(split.metadata.namespace, split.local_name(service))
    return WeightedBackend(key, port, min(share, 100))


def build_splits(
    inputs: Inputs, services: Mapping[ServiceKey, Service], diags: list[Diagnostic]
) -> dict[tuple[ServiceKey, int], PortSplits]:
    result: dict[tuple[ServiceKey, int], PortSplits] = {}
    for split in sorted(inputs.of(TrafficSplit), key=_order):
        root = ServiceKey(split.metadata.namespace, split.root)
        for port, route in _routes(split, inputs, services, diags):
            current = result.get((root, port), PortSplits(root, port))
            if route.matches:
                current = PortSplits(root, port, (*current.conditional, route), current.unconditional)
            elif current.unconditional is None:
                current = PortSplits(root, port, current.conditional, route)
            # else: a second unconditional split of this root is ignored (SM4010 says so)
            result[(root, port)] = current
    return result
