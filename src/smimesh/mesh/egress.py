"""Egress: which external destinations each workload identity may reach, and the mesh-wide switch.

Owns `EgressRule` (one external host and port an OSM Egress lets some ServiceAccounts call over HTTP,
optionally narrowed to an HTTPRouteGroup's matches), `egress_rules(inputs, diags)` (by source
identity, for `build_model`), and `EgressView`, what one sidecar applies (`egress_view`): its
identity's rules, and whether egress is `open` (MeshConfig: every external host reachable) or only
by policy (the default: a host no Egress names gets the mesh's 404). None when neither applies, so
a mesh without egress policy generates exactly the config it did before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.mesh.build_policies import http_match
from smimesh.mesh.model import HttpMatch, Identity
from smimesh.resources.ingress import Egress
from smimesh.resources.specs import HTTPRouteGroup

EGRESS_KINDS = (Egress,)


@dataclass(frozen=True, slots=True, order=True)
class EgressRule:
    host: str
    port: int
    policy: str  # "Egress/ns/name"
    matches: tuple[HttpMatch, ...] = ()  # empty: every request


@dataclass(frozen=True, slots=True)
class EgressView:
    open: bool
    rules: tuple[EgressRule, ...]


def _matches(obj: Egress, inputs: Any) -> tuple[HttpMatch, ...]:
    found: list[HttpMatch] = []
    for ref in obj.spec.matches or ():
        group = inputs.named(HTTPRouteGroup, obj.metadata.namespace, ref.name)
        found.extend(http_match(m) for m in (group.spec.matches if group else ()))
    return tuple(found)


def egress_rules(inputs: Any, diags: list[Diagnostic]) -> Mapping[Identity, tuple[EgressRule, ...]]:
    found: dict[Identity, set[EgressRule]] = {}
    for obj in inputs.of(Egress):
        spec, policy = obj.spec, f"Egress/{obj.metadata.namespace}/{obj.metadata.name}"
        matches = _matches(obj, inputs)
        rules = {
            EgressRule(host.lower(), port.number, policy, matches)
            for host in spec.hosts or ()
            for port in spec.ports
            if port.protocol.lower() == "http"
        }
        for source in spec.sources:
            found.setdefault(Identity(source.namespace, source.name), set()).update(rules)
    return {identity: tuple(sorted(rules)) for identity, rules in sorted(found.items())}


def egress_view(
    rules: Mapping[Identity, tuple[EgressRule, ...]], open_: bool, identity: Identity
) -> EgressView | None:
    own = rules.get(identity, ())
    return EgressView(open_, own) if open_ or own else None
