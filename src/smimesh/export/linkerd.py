"""`--to linkerd`: GAMMA HTTPRoutes for TrafficSplits; Server, HTTPRoute, AuthorizationPolicy and
MeshTLSAuthentication (policy.linkerd.io) for TrafficTargets.

Per TrafficTarget: one MeshTLSAuthentication naming the sources' Linkerd identities
(`<sa>.<ns>.serviceaccount.identity.linkerd.<trust domain>`); per destination container port a
Server selecting the destination account's pods by labels (shared by every target of that account);
for an HTTP port a policy HTTPRoute holding the target's matches and an AuthorizationPolicy on that
route; for a TCP port an AuthorizationPolicy on the Server. Linkerd denies a request to a Server
port that no route matches (404) or no policy authorizes (403).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.access import resolve, target_ref
from smimesh.export.matches import gateway_matches
from smimesh.export.output import Output, metadata
from smimesh.export.splits import export_splits
from smimesh.export.world import World
from smimesh.mesh.access import TrafficPolicy
from smimesh.mesh.gamma import may_overlap, precedence_key
from smimesh.mesh.model import Identity

POLICY = "policy.linkerd.io"


Match = dict[str, Any]


@dataclass
class ServerRoutes:
    """The HTTP matches every TrafficTarget allows on one Server: (target, its authentication, matches)."""

    namespace: str
    name: str
    entries: list[tuple[ObjectRef, str, list[Match]]] = field(default_factory=list)

    def groups(self) -> list[tuple[tuple[str, ...], list[Match]]]:
        """Distinct matches grouped by the authentications allowing them (unconditional: every one)."""
        grouped: dict[tuple[str, ...], list[Match]] = {}
        for match in self._distinct():
            allowed = tuple(sorted({a for _, a, ms in self.entries if match in ms or {} in ms}))
            grouped.setdefault(allowed, []).append(match)
        return list(grouped.items())

    def refs_of(self, authns: tuple[str, ...]) -> list[ObjectRef]:
        by_authn = {authn: ref for ref, authn, _ in self.entries}
        return [by_authn[a] for a in authns]

    def _distinct(self) -> list[Match]:
        seen: dict[str, Match] = {}
        for _, _, matches in self.entries:
            for match in matches:
                seen.setdefault(json.dumps(match, sort_keys=True), match)
        return list(seen.values())


def export_linkerd(world: World, out: Output) -> None:
    export_splits(world, out)
    export_linkerd_access(world, out)


def export_linkerd_access(world: World, out: Output) -> None:
    """The policy.linkerd.io objects alone (what `--to gateway-api --policy linkerd` adds to the routes)."""
    servers: dict[tuple[str, str], ServerRoutes] = {}
    for policy in world.model.policies:
        _policy(world, policy, servers, out)
    for server in servers.values():
        _server_routes(server, out)
    for namespace in sorted({p.destination.namespace for p in world.model.policies}):
        ref = ObjectRef("Namespace", "", namespace)
        out.report(
            ref,
            codes.finding(
                codes.DEFAULT_DENY,
                f"annotate namespace {namespace} with config.linkerd.io/default-inbound-policy: deny "
                "(SMI denies what no TrafficTarget allows; Linkerd's default is all-unauthenticated)",
                ref,
            ),
        )


def linkerd_identity(world: World, identity: Identity) -> str:
    account, namespace = identity.service_account, identity.namespace
    return f"{account}.{namespace}.serviceaccount.identity.linkerd.{world.model.trust_domain}"


def _policy(
    world: World, policy: TrafficPolicy, servers: dict[tuple[str, str], ServerRoutes], out: Output
) -> None:
    ref = target_ref(policy)
    resolved = resolve(world, policy, "Linkerd", out)
    if resolved is None:
        return
    selector, plan = resolved
    ns = policy.destination.namespace
    authn = f"{policy.name}-sources"
    identities = sorted(linkerd_identity(world, s) for s in policy.sources)

    def note(code: str, message: str) -> None:
        out.report(ref, codes.finding(code, message, ref))

    matches = [m for selected in policy.http for m in gateway_matches(selected.match, note)]
    for port in plan.http if matches else ():
        server = _server(policy, selector, port, "unknown", ref, out)
        routes = servers.setdefault((ns, server), ServerRoutes(ns, server))
        routes.entries.append((ref, authn, matches))
    for port in plan.tcp:
        server = _server(policy, selector, port, "opaque", ref, out)
        _authorization(ns, f"{policy.name}-{port}", ("Server", server), authn, ref, out)
    if (plan.http and matches) or plan.tcp:
        out.add(
            ref,
            {
                "apiVersion": f"{POLICY}/v1alpha1",
                "kind": "MeshTLSAuthentication",
                "metadata": metadata(authn, ns, ref),
                "spec": {"identities": identities},
            },
        )


def _server(
    policy: TrafficPolicy, selector: dict[str, str], port: int, protocol: str, ref: ObjectRef, out: Output
) -> str:
    dest = policy.destination
    name = f"{dest.service_account}-{port}"
    out.add(
        ref,
        {
            "apiVersion": f"{POLICY}/v1beta3",
            "kind": "Server",
            "metadata": metadata(
                name, dest.namespace, f"ServiceAccount/{dest.namespace}/{dest.service_account}"
            ),
            "spec": {"podSelector": {"matchLabels": selector}, "port": port, "proxyProtocol": protocol},
        },
    )
    return name


def _server_routes(server: ServerRoutes, out: Output) -> None:
    """One policy HTTPRoute per set of matches that the same TrafficTargets allow, and its policies."""
    groups = server.groups()
    for index, (authns, matches) in enumerate(groups):
        name = f"{server.name}-{index}"
        refs = server.refs_of(authns)
        route = {
            "apiVersion": f"{POLICY}/v1beta3",
            "kind": "HTTPRoute",
            "metadata": metadata(name, server.namespace, ",".join(str(r) for r in refs)),
            "spec": {
                "parentRefs": [{"group": POLICY, "kind": "Server", "name": server.name}],
                "rules": [{"matches": matches}],
            },
        }
        for ref in refs:
            out.add(ref, route)
        for ref, authn in zip(refs, authns, strict=True):
            _authorization(server.namespace, f"{name}-{ref.name}", ("HTTPRoute", name), authn, ref, out)
    _check_one_route(server, groups, out)


def _check_one_route(
    server: ServerRoutes, groups: list[tuple[tuple[str, ...], list[Match]]], out: Output
) -> None:
    """Linkerd authorizes a request by the one route it matches best; SMI by every target that allows it."""
    ranked = sorted(
        range(len(groups)), key=lambda i: max(precedence_key(m) for m in groups[i][1]), reverse=True
    )
    for position, winner in enumerate(ranked):
        for loser in ranked[position + 1 :]:
            missing = set(groups[loser][0]) - set(groups[winner][0])
            overlap = any(may_overlap(a, b) for a in groups[winner][1] for b in groups[loser][1])
            if missing and overlap:
                for ref in server.refs_of(tuple(sorted(missing))):
                    message = (
                        f"on Server {server.name}, a request this target allows may also match a more "
                        "specific route of another target, and Linkerd authorizes it by that route only"
                    )
                    out.report(ref, codes.finding(codes.ONE_ROUTE, message, ref))


def _authorization(
    namespace: str, name: str, target: tuple[str, str], authn: str, ref: ObjectRef, out: Output
) -> None:
    kind, target_name = target
    out.add(
        ref,
        {
            "apiVersion": f"{POLICY}/v1alpha1",
            "kind": "AuthorizationPolicy",
            "metadata": metadata(name, namespace, ref),
            "spec": {
                "targetRef": {"group": POLICY, "kind": kind, "name": target_name},
                "requiredAuthenticationRefs": [
                    {"group": POLICY, "kind": "MeshTLSAuthentication", "name": authn}
                ],
            },
        },
    )
