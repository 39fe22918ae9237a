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

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.access import resolve, target_ref
from smimesh.export.matches import gateway_matches
from smimesh.export.output import Output, metadata
from smimesh.export.splits import export_splits
from smimesh.export.world import World
from smimesh.mesh.access import TrafficPolicy
from smimesh.mesh.model import Identity

POLICY = "policy.linkerd.io"


def export_linkerd(world: World, out: Output) -> None:
    export_splits(world, out)
    for policy in world.model.policies:
        _policy(world, policy, out)
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


def _policy(world: World, policy: TrafficPolicy, out: Output) -> None:
    ref = target_ref(policy)
    resolved = resolve(world, policy, "Linkerd", out)
    if resolved is None:
        return
    selector, plan = resolved
    ns = policy.destination.namespace
    authn = f"{policy.name}-sources"
    identities = sorted(linkerd_identity(world, s) for s in policy.sources)
    for port in plan.http:
        server = _server(policy, selector, port, "unknown", ref, out)
        route = _http_route(policy, server, port, ref, out)
        if route:
            _authorization(ns, f"{policy.name}-{port}", ("HTTPRoute", route), authn, ref, out)
    for port in plan.tcp:
        server = _server(policy, selector, port, "opaque", ref, out)
        _authorization(ns, f"{policy.name}-{port}", ("Server", server), authn, ref, out)
    if plan.http or plan.tcp:
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


def _http_route(policy: TrafficPolicy, server: str, port: int, ref: ObjectRef, out: Output) -> str | None:
    def note(code: str, message: str) -> None:
        out.report(ref, codes.finding(code, message, ref))

    matches = [m for selected in policy.http for m in gateway_matches(selected.match, note)]
    if not matches:
        return None
    name = f"{policy.name}-{port}"
    out.add(
        ref,
        {
            "apiVersion": f"{POLICY}/v1beta3",
            "kind": "HTTPRoute",
            "metadata": metadata(name, policy.destination.namespace, ref),
            "spec": {
                "parentRefs": [{"group": POLICY, "kind": "Server", "name": server}],
                "rules": [{"matches": matches}],
            },
        },
    )
    return name


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
