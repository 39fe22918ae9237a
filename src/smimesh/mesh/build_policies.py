"""TrafficTargets resolved against their routes into `TrafficPolicy` values (SPEC-DIGEST §3.6, §8 A1–A8).

Owns the translation only; evaluation is `access.py`. Rules are resolved one by one: a rule whose
route is missing allows nothing (fail closed) but the target's other rules still apply (A8).
A missing TCPRoute still counts as a TCPRoute rule with no ports, so it narrows the target's HTTP
rules to nothing rather than silently widening them to every port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from smimesh.diagnostics import Diagnostic, ObjectRef
from smimesh.mesh import codes
from smimesh.mesh.access import PortCover, RouteMatch, TrafficPolicy
from smimesh.mesh.model import HttpMatch, Identity
from smimesh.mesh.reuse import BuildState, NamespacePolicies, PolicyEntry, same
from smimesh.resources.access import TrafficTarget, TrafficTargetRule
from smimesh.resources.meta import Resource
from smimesh.resources.specs import HTTPMatch, HTTPRouteGroup, TCPRoute, UDPRoute

if TYPE_CHECKING:
    from smimesh.mesh.build import Inputs


def http_match(match: HTTPMatch) -> HttpMatch:
    """The mesh's normalised form of an HTTPMatch: "" / () mean any; `*` anywhere means any method."""
    methods = tuple(sorted(set(match.methods or ())))
    headers = tuple(sorted((name.lower(), regex) for name, regex in (match.headers or {}).items()))
    return HttpMatch(match.name, match.path_regex or "", () if "*" in methods else methods, headers)


class _Rules:
    """Accumulates the rules of one TrafficTarget."""

    def __init__(self) -> None:
        self.http: list[RouteMatch] = []
        self.has_http = False
        self.tcp: PortCover | None = None
        self.udp: PortCover | None = None


def _ref(tt: TrafficTarget) -> ObjectRef:
    return ObjectRef("TrafficTarget", tt.metadata.namespace, tt.metadata.name)


def _http_rule(rule: TrafficTargetRule, group: HTTPRouteGroup, acc: _Rules) -> None:
    """The rule's matches (all of the group's when it names none); a name the group lacks matches
    nothing (SM4002 from resources.references, shared by validate, up and the API)."""
    names = rule.matches if rule.matches is not None else [m.name for m in group.spec.matches]
    for name in names:
        match = group.match(name)
        if match is not None:
            acc.http.append(RouteMatch(group.metadata.name, http_match(match)))


def _port_cover(route: TCPRoute | UDPRoute | None) -> PortCover:
    if route is None:
        return PortCover()
    return PortCover(every_port=not route.ports, ports=frozenset(route.ports))


_RULE_KINDS: dict[str, type[Resource]] = {
    "HTTPRouteGroup": HTTPRouteGroup,
    "TCPRoute": TCPRoute,
    "UDPRoute": UDPRoute,
}


def _add_rule(tt: TrafficTarget, rule: TrafficTargetRule, inputs: Inputs, acc: _Rules) -> None:
    """A missing route object allows nothing (SM4001 from resources.references)."""
    kind = _RULE_KINDS[rule.kind]
    route: Any = inputs.named(kind, tt.metadata.namespace, rule.name)
    if rule.kind == "HTTPRouteGroup":
        acc.has_http = True
        if route is not None:
            _http_rule(rule, route, acc)
    elif rule.kind == "TCPRoute":
        acc.tcp = _port_cover(route).union(acc.tcp or PortCover())
    else:
        acc.udp = _port_cover(route).union(acc.udp or PortCover())


def _policy(tt: TrafficTarget, inputs: Inputs, diags: list[Diagnostic]) -> TrafficPolicy | None:
    ns = tt.metadata.namespace
    if tt.destination_namespace() != ns:
        diags.append(
            codes.diag(
                codes.TARGET_NAMESPACE,
                "a TrafficTarget must be in its destination's namespace",
                _ref(tt),
                path="spec.destination.namespace",
                value=tt.destination_namespace(),
                expected=ns,
                hint=f"move the TrafficTarget to namespace {tt.destination_namespace()}",
            )
        )
        return None
    acc = _Rules()
    for rule in tt.spec.rules:
        _add_rule(tt, rule, inputs, acc)
    sources = frozenset(Identity(tt.source_namespace(s), s.name) for s in tt.spec.sources)
    return TrafficPolicy(
        ns,
        tt.metadata.name,
        Identity(ns, tt.spec.destination.name),
        sources,
        tuple(acc.http),
        acc.has_http,
        acc.tcp,
        acc.udp,
        tt.legacy_destination_port,
    )


def _referenced(tt: TrafficTarget, inputs: Inputs) -> tuple[Any, ...]:
    ns = tt.metadata.namespace
    return tuple(inputs.named(_RULE_KINDS[r.kind], ns, r.name) for r in tt.spec.rules)


def _resolved(
    tt: TrafficTarget, inputs: Inputs, last: PolicyEntry | None, diags: list[Diagnostic]
) -> PolicyEntry:
    """Resolve `tt`, reusing `last` (the previous build's) while it and the routes it names are the
    same (or equal): with dense policies, re-resolving every TrafficTarget is most of a rebuild."""
    refs = _referenced(tt, inputs)
    if (
        last is not None
        and len(last.routes) == len(refs)
        and all(same(a, b) for a, b in zip(last.routes, refs, strict=True))
        and same(last.resource, tt)
    ):
        diags.extend(last.diagnostics)
        return last if last.resource is tt else PolicyEntry(tt, refs, last.policy, last.diagnostics)
    found: list[Diagnostic] = []
    policy = _policy(tt, inputs, found)
    diags.extend(found)
    return PolicyEntry(tt, refs, policy, tuple(found))


PolicyKey = tuple[str, str]  # a TrafficTarget's (namespace, name)


def _namespace_policies(
    targets: tuple[TrafficTarget, ...],
    routes: tuple[tuple[Any, ...], ...],
    inputs: Inputs,
    previous: Mapping[PolicyKey, PolicyEntry],
) -> NamespacePolicies:
    found: list[Diagnostic] = []
    entries = []
    for tt in targets:
        key = (tt.metadata.namespace, tt.metadata.name)
        entries.append((key, _resolved(tt, inputs, previous.get(key), found)))
    return NamespacePolicies(targets, routes, tuple(entries), tuple(found))


def build_policies(
    inputs: Inputs, previous: BuildState, diags: list[Diagnostic]
) -> dict[str, NamespacePolicies]:
    """Every TrafficTarget resolved, by namespace in input order. A namespace whose TrafficTargets and
    route objects are those `previous` resolved is taken whole (one tuple comparison); in the others
    each TrafficTarget is reused while it and its routes are the same (`_resolved`)."""
    resolved: dict[str, NamespacePolicies] = {}
    for namespace, targets in inputs.by_namespace(TrafficTarget).items():
        routes = tuple(inputs.by_namespace(kind).get(namespace, ()) for kind in _RULE_KINDS.values())
        last = previous.policy_namespaces.get(namespace)
        if last is None or last.resources != targets or last.routes != routes:
            last = _namespace_policies(targets, routes, inputs, dict(last.entries) if last else {})
        diags.extend(last.diagnostics)
        resolved[namespace] = last
    return resolved
