"""`--to istio`: VirtualServices for TrafficSplits, AuthorizationPolicies for TrafficTargets.

Routing: one VirtualService per root Service, routes in SMI order (Istio evaluates `http` routes
first-match, like SMI), each match pinned to the root port, weights as whole percentages, and a
last route per HTTP port back to the root (a VirtualService answers 404 when no route matches).
Access: an ALLOW AuthorizationPolicy per TrafficTarget selecting the destination account's pods
by labels (`World.selector_for`), plus an empty `smimesh-default-deny` policy per namespace (SMI
denies by default, Istio allows). Authorization paths and header values have no regex: exact
values, `x*` prefixes and `*` presence only; anything else is refused (SM8202), never widened.
"""

from __future__ import annotations

from typing import Any

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.access import PortPlan, resolve, target_ref, trust_principal
from smimesh.export.output import Output, metadata, percentages
from smimesh.export.patterns import Form, Pattern, anchored_path_regex, header_pattern, path_pattern
from smimesh.export.splits import split_ref
from smimesh.export.world import World
from smimesh.mesh.access import RouteMatch, TrafficPolicy
from smimesh.mesh.model import HttpMatch, ServiceKey
from smimesh.mesh.split import PortSplits, SplitRoute

NETWORKING = "networking.istio.io/v1"
NON_EMPTY = (".+", "^.+$", ".+$", "^.+")
SECURITY = "security.istio.io/v1"


def export_istio(world: World, out: Output) -> None:
    roots = sorted({root for root, _ in world.model.splits})
    for root in roots:
        _virtual_service(world, root, out)
    export_istio_access(world, out)


def export_istio_access(world: World, out: Output) -> None:
    """The AuthorizationPolicies alone (also beside Gateway API routes: `--to gateway-api --policy istio`)."""
    for policy in world.model.policies:
        _authorization_policy(world, policy, out)
    for namespace in sorted({p.namespace for p in world.pods} | {k.namespace for k in world.model.services}):
        _default_deny(namespace, out)


def host(world: World, key: ServiceKey) -> str:
    return f"{key.name}.{key.namespace}.svc.{world.model.cluster_domain}"


# --- routing ---------------------------------------------------------------------------------------
def _virtual_service(world: World, root: ServiceKey, out: Output) -> None:
    service = world.model.services[root]
    routes: list[dict[str, Any]] = []
    sources: list[ObjectRef] = []
    for port in (p for p in service.ports if p.protocol.is_http):
        splits = world.model.splits.get((root, port.port), PortSplits(root, port.port))
        sources += [split_ref(r) for r in splits.routes]
        routes += [_route(world, r, port.port, out) for r in splits.conditional]
        tail = _route(world, splits.unconditional, port.port, out) if splits.unconditional else None
        if not splits.reject_unmatched:  # from an HTTPRoute: unmatched gets 404, as a VirtualService does
            routes.append(
                tail or {"match": [{"port": port.port}], "route": [_destination(world, root, port.port)]}
            )
    for port in (p for p in service.ports if not p.protocol.is_http):
        for route in world.model.splits.get((root, port.port), PortSplits(root, port.port)).routes:
            out.report(
                split_ref(route),
                codes.finding(
                    codes.NOT_HTTP, f"port {port.port} is not HTTP: not exported", split_ref(route)
                ),
            )
    if not sources:
        return
    obj = {
        "apiVersion": NETWORKING,
        "kind": "VirtualService",
        "metadata": metadata(root.name, root.namespace, ",".join(dict.fromkeys(str(s) for s in sources))),
        "spec": {"hosts": [host(world, root)], "http": routes},
    }
    for source in sources:
        out.add(source, obj)


def _destination(world: World, key: ServiceKey, port: int, weight: int | None = None) -> dict[str, Any]:
    dest: dict[str, Any] = {"destination": {"host": host(world, key), "port": {"number": port}}}
    return dest | ({} if weight is None else {"weight": weight})


def _route(world: World, route: SplitRoute, port: int, out: Output) -> dict[str, Any]:
    ref = split_ref(route)
    # An HTTPRoute gives one route per rule match: name them apart (`<route>-<rule>.<match>-<port>`).
    part = f"-{route.matches[0].name}" if route.kind == "HTTPRoute" and route.matches else ""
    result: dict[str, Any] = {"name": f"{route.name}{part}-{port}"}
    if route.matches:
        result["match"] = [
            m | {"port": port} for match in route.matches for m in _vs_matches(match, ref, out)
        ]
    else:
        result["match"] = [{"port": port}]
    if route.all_zero:
        out.report(
            ref, codes.finding(codes.ALL_ZERO, "every backend weighs 0: answered 503 by a fault abort", ref)
        )
        result["fault"] = {"abort": {"httpStatus": 503, "percentage": {"value": 100}}}
        result["route"] = [_destination(world, route.backends[0].service, port)] if route.backends else []
        return result
    shares, exact = percentages([b.weight for b in route.backends], 100)
    if not exact:
        shown = ", ".join(
            f"{b.service.name} {b.weight}→{s}%" for b, s in zip(route.backends, shares, strict=True)
        )
        out.report(
            ref, codes.finding(codes.WEIGHTS_ROUNDED, f"weights rounded to whole percentages: {shown}", ref)
        )
    result["route"] = [
        _destination(world, b.service, b.port, share) for b, share in zip(route.backends, shares, strict=True)
    ]
    return result


def _string_match(pattern: Pattern, regex: str) -> dict[str, str]:
    if pattern.form is Form.EXACT:
        return {"exact": pattern.literal}
    if pattern.form is Form.PREFIX:
        return {"prefix": pattern.literal}
    return {"regex": regex}


def _vs_matches(match: HttpMatch, ref: ObjectRef, out: Output) -> list[dict[str, Any]]:
    pattern = path_pattern(match.path_regex)
    uris: list[dict[str, str] | None]
    if pattern.form is Form.ANY:
        uris = [None]
    elif pattern.simple:
        uris = [_string_match(p, "") for p in pattern.simple]
    else:
        uris = [{"regex": anchored_path_regex(match.path_regex)}]
        out.report(
            ref,
            codes.finding(codes.REGEX_EXTENDED, f"path {match.path_regex!r} exported as a uri regex", ref),
        )
    headers = {name: _string_match(header_pattern(value), f"^(?:{value})$") for name, value in match.headers}
    methods: list[str | None] = list(match.methods) if not match.any_method else [None]
    result = []
    for uri in uris:
        for method in methods:
            entry: dict[str, Any] = {}
            if uri is not None:
                entry["uri"] = uri
            if method is not None:
                entry["method"] = {"exact": method}
            if headers:
                entry["headers"] = headers
            result.append(entry)
    return result


# --- access ----------------------------------------------------------------------------------------
def _authorization_policy(world: World, policy: TrafficPolicy, out: Output) -> None:
    ref = target_ref(policy)
    resolved = resolve(world, policy, "Istio", out)
    if resolved is None:
        return
    selector, plan = resolved
    rules = _rules(world, policy, plan, out)
    if not rules:
        return
    obj = {
        "apiVersion": SECURITY,
        "kind": "AuthorizationPolicy",
        "metadata": metadata(policy.name, policy.destination.namespace, ref),
        "spec": {"selector": {"matchLabels": selector}, "action": "ALLOW", "rules": rules},
    }
    out.add(ref, obj)


def _rules(world: World, policy: TrafficPolicy, plan: PortPlan, out: Output) -> list[dict[str, Any]]:
    ref = target_ref(policy)
    principals = sorted(trust_principal(world, s.namespace, s.service_account) for s in policy.sources)
    source = [{"source": {"principals": principals}}]
    rules = []
    if plan.http:
        for selected in policy.http:
            operation = _operation(selected, plan.http, ref, out)
            if operation is not None:
                rules.append({"from": source} | operation)
    if plan.tcp:
        rules.append({"from": source, "to": [{"operation": {"ports": [str(p) for p in plan.tcp]}}]})
    return rules


def _operation(
    selected: RouteMatch, ports: tuple[int, ...], ref: ObjectRef, out: Output
) -> dict[str, Any] | None:
    match = selected.match
    operation: dict[str, Any] = {"ports": [str(p) for p in ports]}
    if not match.any_method:
        operation["methods"] = list(match.methods)
    paths = _values(path_pattern(match.path_regex), end_open=True)
    when = []
    refused = None if paths is not None else f"path regex {match.path_regex!r}"
    if paths:
        operation["paths"] = paths
    for name, regex in match.headers:
        pattern = header_pattern(regex)
        values = _values(pattern, end_open=False)
        if pattern.form is Form.ANY:
            message = (
                f"HTTPRouteGroup/{selected.group}#{match.name}: header {name} {regex!r} becomes Istio's "
                "presence match `*`, which does not match an empty value (narrower)"
            )
            out.report(ref, codes.finding(codes.PATTERN_REFUSED, message, ref))
        if values is None:
            refused = refused or f"header {name} regex {regex!r}"
        elif name == "host":
            operation["hosts"] = values
        else:
            when.append({"key": f"request.headers[{name}]", "values": values})
    if refused:
        message = (
            f"HTTPRouteGroup/{selected.group}#{match.name}: {refused} is not exact, a prefix or an "
            "alternation of those; left out (requests it allowed are denied)"
        )
        out.report(ref, codes.finding(codes.PATTERN_REFUSED, message, ref))
        return None
    return {"to": [{"operation": operation}]} | ({"when": when} if when else {})


def _values(pattern: Pattern, *, end_open: bool) -> list[str] | None:
    """Istio exact / `x*` prefix / `*` presence values for a pattern; [] = no condition; None = refused."""
    if pattern.form is Form.ANY:
        return [] if end_open else ["*"]
    if not end_open and pattern.regex in NON_EMPTY:
        return ["*"]  # Istio's presence match: any value but an empty one, exactly `.+`
    pieces = pattern.simple
    if not pieces or any("*" in p.literal or not p.literal for p in pieces):
        return None
    return [p.literal + ("*" if p.form is Form.PREFIX else "") for p in pieces]


def _default_deny(namespace: str, out: Output) -> None:
    ref = ObjectRef("Namespace", "", namespace)
    out.add(
        ref,
        {
            "apiVersion": SECURITY,
            "kind": "AuthorizationPolicy",
            "metadata": metadata("smimesh-default-deny", namespace, "smimesh default deny"),
            "spec": {},
        },
    )
    out.report(
        ref,
        codes.finding(
            codes.DEFAULT_DENY,
            f"an empty AuthorizationPolicy denies every request in {namespace} that no policy "
            "allows (SMI's default)",
            ref,
        ),
    )
