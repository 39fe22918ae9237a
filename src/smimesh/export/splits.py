"""TrafficSplits as Gateway API (GAMMA) HTTPRoutes: the routing half of `--to gateway-api` and `linkerd`.

One HTTPRoute per root Service port (`<root>-<port>`, parentRef the root Service and that port):
a rule per conditional split in SMI order, then the unconditional split, or a catch-all rule back
to the root itself (a route attached to a Service rejects unmatched requests with 404; SMI sends
them to the root). Backend ports are the root port's number on each backend Service (SMI carries
none; the mesh takes the same number). Gateway API evaluates by specificity, so a later split
whose match outranks an earlier overlapping one is reported (SM8102).
"""

from __future__ import annotations

from typing import Any

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.matches import gateway_matches
from smimesh.export.output import Output, metadata
from smimesh.export.world import World
from smimesh.mesh.gamma import may_overlap, precedence_key
from smimesh.mesh.model import ServiceKey
from smimesh.mesh.split import PortSplits, SplitRoute

GATEWAY_API = "gateway.networking.k8s.io/v1"


def split_ref(route: SplitRoute) -> ObjectRef:
    return ObjectRef(route.kind, route.namespace, route.name)


def export_splits(world: World, out: Output) -> None:
    """HTTPRoutes for the TrafficSplits (a port an input HTTPRoute routes is that route's: passed through)."""
    for (root, port), splits in sorted(world.model.splits.items()):
        if splits.reject_unmatched:
            continue
        service_port = world.model.services[root].port(port)
        if service_port is None or not service_port.protocol.is_http:
            for route in splits.routes:
                out.report(
                    split_ref(route),
                    codes.finding(
                        codes.NOT_HTTP,
                        f"port {port} of {root.name} is not HTTP: not exported",
                        split_ref(route),
                    ),
                )
            continue
        route_object = http_route(root, port, splits, out)
        for route in splits.routes:
            out.add(split_ref(route), route_object)


def http_route(root: ServiceKey, port: int, splits: PortSplits, out: Output) -> dict[str, Any]:
    rules = [_conditional_rule(route, out) for route in splits.conditional]
    _check_precedence(splits.conditional, rules, out)
    rules.append(_last_rule(root, port, splits, out))
    sources = ",".join(str(split_ref(r)) for r in splits.routes)
    return {
        "apiVersion": GATEWAY_API,
        "kind": "HTTPRoute",
        "metadata": metadata(f"{root.name}-{port}", root.namespace, sources),
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": root.name, "port": port}],
            "rules": rules,
        },
    }


def _conditional_rule(route: SplitRoute, out: Output) -> dict[str, Any]:
    ref = split_ref(route)

    def note(code: str, message: str) -> None:
        out.report(ref, codes.finding(code, message, ref))

    matches = [m for match in route.matches for m in gateway_matches(match, note)]
    return {"matches": matches, "backendRefs": _backend_refs(route, out)}


def _last_rule(root: ServiceKey, port: int, splits: PortSplits, out: Output) -> dict[str, Any]:
    if splits.unconditional is not None:
        return {"backendRefs": _backend_refs(splits.unconditional, out)}
    for route in splits.conditional:
        out.report(
            split_ref(route),
            codes.finding(
                codes.CATCH_ALL,
                f"requests no split matches keep going to {root.name}:{port}: a last rule without matches "
                "sends them to the root Service itself",
                split_ref(route),
            ),
        )
    return {"backendRefs": [{"group": "", "kind": "Service", "name": root.name, "port": port}]}


def _backend_refs(route: SplitRoute, out: Output) -> list[dict[str, Any]]:
    if route.all_zero:
        out.report(
            split_ref(route),
            codes.finding(
                codes.ALL_ZERO,
                "every backend weighs 0: Gateway API answers 500 where smimesh answers 503",
                split_ref(route),
            ),
        )
    return [
        {"group": "", "kind": "Service", "name": b.service.name, "port": b.port, "weight": b.weight}
        for b in route.backends
    ]


def _check_precedence(routes: tuple[SplitRoute, ...], rules: list[dict[str, Any]], out: Output) -> None:
    """Report a later rule whose match Gateway API would try before an overlapping earlier one."""
    for late_index, late in enumerate(rules):
        for early_index in range(late_index):
            clash = _outranking_pair(rules[early_index], late)
            if clash:
                ref = split_ref(routes[late_index])
                message = (
                    f"a match of this split ({clash[1]}) is more specific than an overlapping match of "
                    f"{split_ref(routes[early_index])} ({clash[0]}), which SMI evaluates first: "
                    "Gateway API tries this one first"
                )
                out.report(ref, codes.finding(codes.PRECEDENCE, message, ref))


def _outranking_pair(early: dict[str, Any], late: dict[str, Any]) -> tuple[str, str] | None:
    early_matches = early.get("matches") or [{}]
    for late_match in late.get("matches") or [{}]:
        for early_match in early_matches:
            if precedence_key(late_match) > precedence_key(early_match) and may_overlap(
                early_match, late_match
            ):
                return _describe(early_match), _describe(late_match)
    return None


def _describe(match: dict[str, Any]) -> str:
    path = match.get("path") or {"type": "PathPrefix", "value": "/"}
    parts = [f"{path['type']} {path['value']}"]
    if match.get("method"):
        parts.append(str(match["method"]))
    parts += [f"{h['name']} {h['type']} {h['value']}" for h in match.get("headers") or ()]
    return ", ".join(parts)
