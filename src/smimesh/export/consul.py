"""`--to consul`: ServiceDefaults, ServiceSplitter and ServiceRouter for TrafficSplits, ServiceIntentions
for TrafficTargets (consul.hashicorp.com/v1alpha1).

Routing: a ServiceSplitter per root with the unconditional split's weights as percentages with two
decimals summing to exactly 100 (largest remainder); a ServiceRouter per root whose routes, in SMI
order, send matched requests to the one live backend of a conditional split (a router route has one
destination; weighted conditional splits are refused, SM8107); ServiceDefaults `protocol: http` for
every service they involve (Consul applies L7 config only to HTTP services).
Access: Consul identities are services, so each account becomes the services whose pods all run as
it (`World.services_of`); one ServiceIntentions per destination service gathers every target's
sources (Consul keeps one config entry per destination), with L7 permissions for HTTP matches, plus
a `*` → `*` deny (SMI's default deny).
"""

from __future__ import annotations

import copy
from typing import Any

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.access import port_plan
from smimesh.export.output import Output, metadata, percentages
from smimesh.export.patterns import (
    Form,
    Pattern,
    anchored_path_regex,
    anchored_value_regex,
    header_pattern,
    path_pattern,
)
from smimesh.export.splits import split_ref
from smimesh.export.world import World
from smimesh.mesh.access import TrafficPolicy
from smimesh.mesh.model import HttpMatch, ServiceKey
from smimesh.mesh.split import PortSplits, SplitRoute

CONSUL = "consul.hashicorp.com/v1alpha1"
Intention = tuple[dict[str, Any], list[ObjectRef]]  # one ServiceIntentions and the targets it gathers


def export_consul(world: World, out: Output) -> None:
    for (root, port), splits in sorted(world.model.splits.items()):
        _routing(world, root, port, splits, out)
    intentions: dict[ServiceKey, Intention] = {}
    for policy in world.model.policies:
        _intentions(world, policy, intentions, out)
    for key in sorted(intentions):
        obj, refs = intentions[key]
        _close_permissions(obj["spec"]["sources"])
        for ref in refs:
            out.add(ref, obj)
    if world.model.policies:
        _default_deny(world, out)


def _config(kind: str, name: str, namespace: str, source: object, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": CONSUL,
        "kind": kind,
        "metadata": metadata(name, namespace, str(source)),
        "spec": spec,
    }


# --- routing ---------------------------------------------------------------------------------------
def _routing(world: World, root: ServiceKey, port: int, splits: PortSplits, out: Output) -> None:
    service_port = world.model.services[root].port(port)
    if service_port is None or not service_port.protocol.is_http:
        for route in splits.routes:
            out.report(
                split_ref(route),
                codes.finding(codes.NOT_HTTP, f"port {port} is not HTTP: not exported", split_ref(route)),
            )
        return
    if splits.reject_unmatched:
        for ref in dict.fromkeys(split_ref(r) for r in splits.routes):
            message = (
                f"requests no rule matches get 404 from {ref.kind} on {root.name}:{port}; a Consul "
                "ServiceRouter sends them to the service itself"
            )
            out.report(ref, codes.finding(codes.NO_COUNTERPART, message, ref))
    involved = {root} | {b.service for r in splits.routes for b in r.backends}
    for route in splits.routes:
        for key in sorted(involved):
            out.add(
                split_ref(route),
                _config("ServiceDefaults", key.name, key.namespace, split_ref(route), {"protocol": "http"}),
            )
    if splits.unconditional is not None:
        _splitter(root, splits.unconditional, out)
    routes = [r for route in splits.conditional for r in _router_routes(route, out)]
    if routes:
        refs = [split_ref(r) for r in splits.conditional]
        obj = _config(
            "ServiceRouter", root.name, root.namespace, ",".join(map(str, refs)), {"routes": routes}
        )
        for ref in refs:
            out.add(ref, obj)


def _splitter(root: ServiceKey, route: SplitRoute, out: Output) -> None:
    ref = split_ref(route)
    if route.all_zero:
        out.report(
            ref,
            codes.finding(
                codes.NO_COUNTERPART, "every weight is 0: a Consul splitter's weights must add up to 100", ref
            ),
        )
        return
    shares, exact = percentages([b.weight for b in route.backends], 10000)
    if not exact:
        shown = ", ".join(
            f"{b.service.name} {b.weight}→{s / 100:.2f}%" for b, s in zip(route.backends, shares, strict=True)
        )
        out.report(
            ref,
            codes.finding(codes.WEIGHTS_ROUNDED, f"weights rounded to hundredths of a percent: {shown}", ref),
        )
    splits = [
        {"weight": share / 100 if share % 100 else share // 100, "service": b.service.name}
        for b, share in zip(route.backends, shares, strict=True)
    ]
    out.add(ref, _config("ServiceSplitter", root.name, root.namespace, ref, {"splits": splits}))


def _router_routes(route: SplitRoute, out: Output) -> list[dict[str, Any]]:
    ref = split_ref(route)
    live = route.live_backends
    if len(live) != 1:
        why = "more than one backend has weight" if live else "every backend weighs 0"
        out.report(
            ref, codes.finding(codes.CONDITIONAL_WEIGHTS, f"conditional split not exported: {why}", ref)
        )
        return []
    destination = {"service": live[0].service.name}
    return [
        {"match": {"http": http}, "destination": destination}
        for match in route.matches
        for http in _http_matches(match, ref, out)
    ]


def _http_matches(match: HttpMatch, ref: ObjectRef, out: Output) -> list[dict[str, Any]]:
    headers = [_header(name, regex) for name, regex in match.headers]
    base: dict[str, Any] = {}
    if not match.any_method:
        base["methods"] = list(match.methods)
    if headers:
        base["header"] = headers
    return [base | path for path in _paths(match.path_regex, ref, out)]


def _paths(path_regex: str, ref: ObjectRef, out: Output) -> list[dict[str, str]]:
    pattern = path_pattern(path_regex)
    if pattern.form is Form.ANY:
        return [{}]
    if pattern.simple:
        return [_path(p) for p in pattern.simple]
    out.report(ref, codes.finding(codes.REGEX_EXTENDED, f"path {path_regex!r} exported as pathRegex", ref))
    return [{"pathRegex": anchored_path_regex(path_regex)}]


def _path(pattern: Pattern) -> dict[str, str]:
    return {"pathExact": pattern.literal} if pattern.form is Form.EXACT else {"pathPrefix": pattern.literal}


def _header(name: str, regex: str) -> dict[str, Any]:
    pattern = header_pattern(regex)
    if pattern.form is Form.ANY:
        return {"name": name, "present": True}
    if pattern.form is Form.EXACT:
        return {"name": name, "exact": pattern.literal}
    if pattern.form is Form.PREFIX:
        return {"name": name, "prefix": pattern.literal}
    return {"name": name, "regex": anchored_value_regex(regex)}


# --- access ----------------------------------------------------------------------------------------
def _intentions(world: World, policy: TrafficPolicy, found: dict[ServiceKey, Intention], out: Output) -> None:
    ref = ObjectRef("TrafficTarget", policy.namespace, policy.name)
    destinations, mixed = world.services_of(policy.destination)
    for key in mixed:
        out.report(
            ref,
            codes.finding(
                codes.NO_SERVICE,
                f"destination Service {key.name} also selects pods of other accounts: left out",
                ref,
            ),
        )
    if not destinations:
        out.report(
            ref,
            codes.finding(
                codes.NO_SERVICE, f"no Service's pods all run as {policy.destination}: not exported", ref
            ),
        )
        return
    sources = _source_names(world, policy, ref, out)
    permissions = _permissions(world, policy, ref, out)
    if not sources or permissions is None:
        return
    for key in destinations:
        if permissions:  # L7 intentions apply only to a service whose protocol is HTTP
            out.add(ref, _config("ServiceDefaults", key.name, key.namespace, ref, {"protocol": "http"}))
        obj, refs = found.setdefault(
            key,
            (
                _config(
                    "ServiceIntentions",
                    key.name,
                    key.namespace,
                    ref,
                    {"destination": {"name": key.name}, "sources": []},
                ),
                [],
            ),
        )
        refs.append(ref)
        _merge_sources(obj["spec"]["sources"], sources, permissions)


def _source_names(world: World, policy: TrafficPolicy, ref: ObjectRef, out: Output) -> list[str]:
    names: list[str] = []
    for source in sorted(policy.sources):
        pure, mixed = world.services_of(source)
        if not pure:
            why = (
                "its services also select pods of other accounts" if mixed else "no Service selects its pods"
            )
            out.report(
                ref,
                codes.finding(
                    codes.NO_SERVICE, f"source {source} has no service of its own ({why}): left out", ref
                ),
            )
        names += [k.name for k in pure if k.name not in names]
    return names


def _permissions(
    world: World, policy: TrafficPolicy, ref: ObjectRef, out: Output
) -> list[dict[str, Any]] | None:
    """L7 permissions (a list), [] for an L4 allow, or None when nothing can be exported exactly."""
    plan = port_plan(world, policy)
    http_known = [p for p, proto in world.container_ports(policy.destination).items() if proto.is_http]
    if plan.udp_refused or (plan.tcp and plan.http):
        out.report(
            ref,
            codes.finding(
                codes.PORTS_REFUSED,
                "Consul intentions have no ports: TCPRoute/UDPRoute rules of an HTTP service not exported",
                ref,
            ),
        )
    if plan.http and list(plan.http) != http_known:
        out.report(
            ref,
            codes.finding(
                codes.PORTS_REFUSED,
                f"the rules apply to ports {list(plan.http)} only, and intentions cannot name ports",
                ref,
            ),
        )
        return None
    if plan.http:
        return [
            {"action": "allow", "http": http}
            for s in policy.http
            for http in _http_matches(s.match, ref, out)
        ]
    if plan.tcp:
        return []
    return None


def _merge_sources(
    current: list[dict[str, Any]], names: list[str], permissions: list[dict[str, Any]]
) -> None:
    for name in names:
        entry = next((s for s in current if s["name"] == name), None)
        if entry is None:
            entry = {"name": name}
            current.append(entry)
        if not permissions:
            entry.pop("permissions", None)
            entry["action"] = "allow"
        elif entry.get("action") != "allow":
            have = entry.setdefault("permissions", [])
            have.extend(
                copy.deepcopy(p) for p in permissions if p not in have
            )  # no shared dicts: no YAML aliases


# A request that no permission of its source matches falls to Consul's default ACL policy, which may be
# allow: a last deny permission keeps SMI's default deny whatever that policy is.


def _close_permissions(sources: list[dict[str, Any]]) -> None:
    for source in sources:
        if source.get("permissions"):
            source["permissions"].append({"action": "deny", "http": {"pathPrefix": "/"}})


def _default_deny(world: World, out: Output) -> None:
    namespace = min(p.destination.namespace for p in world.model.policies)
    ref = ObjectRef("Namespace", "", namespace)
    out.add(
        ref,
        _config(
            "ServiceIntentions",
            "smimesh-default-deny",
            namespace,
            "smimesh default deny",
            {"destination": {"name": "*"}, "sources": [{"name": "*", "action": "deny"}]},
        ),
    )
    out.report(
        ref,
        codes.finding(
            codes.DEFAULT_DENY,
            "a `*` → `*` deny intention denies what no intention allows (SMI's default)",
            ref,
        ),
    )
