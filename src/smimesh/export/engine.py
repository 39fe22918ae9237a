"""Run one target's exporter over an input snapshot and check what it produced.

`export(snapshot, target, pods)` builds the `World` (the mesh model plus the pods), opens a report
row for every input object, turns the mesh's own split diagnostics into SM8101 losses, runs the
target's exporter, notes route objects nothing used, and checks every produced object against the
ported CEL rules (`cel.problems`; the JSON-schema check needs the CRD files: `schemas.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smimesh.diagnostics import Diagnostic, ObjectRef, Severity
from smimesh.export import cel, codes
from smimesh.export.consul import export_consul
from smimesh.export.gateway import export_gateway
from smimesh.export.istio import export_istio
from smimesh.export.linkerd import export_linkerd
from smimesh.export.output import EXPORTED_FROM, Output
from smimesh.export.world import PodGroup, World
from smimesh.resources import InputSnapshot, ResourceKey, validate_references
from smimesh.resources import codes as resource_codes
from smimesh.resources.access import TrafficTarget
from smimesh.resources.gateway import HTTPRoute
from smimesh.resources.split import TrafficSplit

Exporter = Callable[[World, Output], None]
EXPORTERS: dict[str, Exporter] = {
    "gateway-api": export_gateway,
    "istio": export_istio,
    "linkerd": export_linkerd,
    "consul": export_consul,
}
TARGETS = tuple(EXPORTERS)
_ROUTE_KINDS = ("HTTPRouteGroup", "TCPRoute", "UDPRoute")
# What the mesh drops from a split (the cross-object checks say it, as for validate and up); the
# self-backend note and all-zero are handled by the exporters.
_SPLIT_DROPS = {
    resource_codes.MISSING_ROOT,
    resource_codes.MISSING_BACKEND,
    resource_codes.BACKEND_LACKS_PORT,
    resource_codes.MISSING_SPLIT_MATCH,
    resource_codes.DUPLICATE_SPLIT,
}


def export(
    snapshot: InputSnapshot, target: str, pods: Sequence[PodGroup] = (), *, policy: str | None = None
) -> Output:
    """`policy` ("istio" | "linkerd", gateway-api only): the access-control form beside the routes."""
    world = World.build(snapshot, pods)
    out = Output(target)
    for resource in snapshot:
        out.entry(_ref(resource.key), snapshot.location(resource.key))
    for diag in validate_references(snapshot):
        if diag.code in _SPLIT_DROPS:
            out.report(diag.object, _as_loss(diag))
    if target == "gateway-api":
        export_gateway(world, out, policy)
    else:
        EXPORTERS[target](world, out)
    if target in ("gateway-api", "linkerd"):
        _pass_through_routes(snapshot, out)
    _note_unused(snapshot, out)
    _check_rules(out)
    return out


def _pass_through_routes(snapshot: InputSnapshot, out: Output) -> None:
    """Gateway API HTTPRoutes in the input are already what these targets read: written as they are."""
    for route in snapshot.of_kind(HTTPRoute):
        obj = {k: v for k, v in route.to_dict().items() if k != "status"}
        out.add(_ref(route.key), obj)


def _ref(key: ResourceKey) -> ObjectRef:
    return ObjectRef(key.kind, key.namespace, key.name)


def _as_loss(diag: Diagnostic) -> Diagnostic:
    return codes.finding(codes.SPLIT_UNRESOLVED, diag.message, diag.object, path=diag.path, value=diag.value)


def _note_unused(snapshot: InputSnapshot, out: Output) -> None:
    used = _used_routes(snapshot)
    for resource in snapshot:
        kind, namespace, name = resource.key
        if kind in _ROUTE_KINDS and (kind, namespace, name) not in used:
            ref = ObjectRef(kind, namespace, name)
            out.report(ref, codes.finding(codes.UNUSED, "no TrafficSplit or TrafficTarget uses it", ref))


def _used_routes(snapshot: InputSnapshot) -> set[tuple[str, str, str]]:
    used = {
        (rule.kind, target.metadata.namespace, rule.name)
        for target in snapshot.of_kind(TrafficTarget)
        for rule in target.spec.rules
    }
    return used | {
        (match.kind, split.metadata.namespace, match.name)
        for split in snapshot.of_kind(TrafficSplit)
        for match in split.spec.matches or ()
    }


def _check_rules(out: Output) -> None:
    for obj in out.objects:
        problems = cel.problems(obj)
        source = str(obj["metadata"].get("annotations", {}).get(EXPORTED_FROM, "")).split(",")[0]
        kind, _, rest = source.partition("/")
        namespace, _, name = rest.partition("/")
        ref = ObjectRef(kind, namespace, name)
        for problem in problems:
            out.report(
                ref,
                Diagnostic(
                    codes.SCHEMA,
                    f"{obj['kind']}/{obj['metadata']['name']}: {problem}",
                    Severity.ERROR,
                    object=ref,
                ),
            )
