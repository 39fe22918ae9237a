"""Egress: which external destinations each workload identity may reach, and the mesh-wide switch.

Owns `EgressRule` (one external destination an OSM Egress lets some ServiceAccounts reach: a host and
port over HTTP, optionally narrowed to an HTTPRouteGroup's matches; a host and port over HTTPS, which
a workload reaches by `CONNECT host:port` through its sidecar; or, over TCP, an IP range (`network`;
empty: any address, OSM's meaning of a tcp port without `ipAddresses`) and a port, reached by
`CONNECT ip:port`; an https port without `hosts` is one too), `egress_rules(inputs, diags)` (by source
identity, for `build_model`), and `EgressView`, what one sidecar applies (`egress_view`): its
identity's rules, and whether egress is `open` (MeshConfig: every external host reachable) or only
by policy (the default: a host no Egress names gets the mesh's 404). None when neither applies, so
a mesh without egress policy generates exactly the config it did before (for a sidecar in a pod:
when the mesh holds no Egress at all and the controller's `--egress policy` is not set).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.mesh.build_policies import http_match
from smimesh.mesh.model import HttpMatch, Identity
from smimesh.resources.ingress import Egress
from smimesh.resources.specs import HTTPRouteGroup
from smimesh.resources.validate_egress import range_problem

EGRESS_KINDS = (Egress,)


@dataclass(frozen=True, slots=True, order=True)
class EgressRule:
    host: str  # empty for a TCP rule
    port: int
    policy: str  # "Egress/ns/name"
    matches: tuple[HttpMatch, ...] = ()  # empty: every request
    protocol: str = "http"  # http | https (CONNECT to host:port) | tcp (CONNECT to an address in network)
    network: str = ""  # tcp: an IPv4 or IPv6 CIDR; empty: any address

    @property
    def tunnel(self) -> bool:
        """Reached by CONNECT through the sidecar (the bytes inside are the app's, e.g. its TLS)."""
        return self.protocol != "http"


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


def _port_rules(spec: Any, port: Any, policy: str, matches: tuple[HttpMatch, ...]) -> list[EgressRule]:
    protocol = port.protocol.lower()
    hosts = [host.lower() for host in spec.hosts or ()]
    if protocol == "http":
        return [EgressRule(host, port.number, policy, matches) for host in hosts]
    if protocol == "https" and hosts:
        return [EgressRule(host, port.number, policy, protocol="https") for host in hosts]
    # tcp (and tcp-server-first, and https without hosts): by address; no ipAddresses = any address
    networks = [_network(text) for text in spec.ip_addresses] if spec.ip_addresses else [""]
    return [EgressRule("", port.number, policy, protocol="tcp", network=n) for n in networks if n is not None]


def _network(text: str) -> str | None:
    """The canonical network (None for what validation refuses: this fails closed)."""
    if range_problem(text):
        return None
    return str(ipaddress.ip_network(text.strip(), strict=False))


def egress_rules(inputs: Any, diags: list[Diagnostic]) -> Mapping[Identity, tuple[EgressRule, ...]]:
    found: dict[Identity, set[EgressRule]] = {}
    for obj in inputs.of(Egress):
        spec, policy = obj.spec, f"Egress/{obj.metadata.namespace}/{obj.metadata.name}"
        matches = _matches(obj, inputs)
        rules = {rule for port in spec.ports for rule in _port_rules(spec, port, policy, matches)}
        for source in spec.sources:
            found.setdefault(Identity(source.namespace, source.name), set()).update(rules)
    return {identity: tuple(sorted(rules)) for identity, rules in sorted(found.items())}


def egress_view(
    rules: Mapping[Identity, tuple[EgressRule, ...]],
    open_: bool,
    identity: Identity,
    pod: bool = False,
    enforced: bool = False,
) -> EgressView | None:
    """What one sidecar enforces. A sidecar in a pod (`pod`: its traffic is captured) gets a view as
    soon as the mesh holds any Egress, so a workload no Egress names is refused the outside there too;
    with no Egress at all, pods keep passing their external traffic through (as before egress policy)
    unless `enforced` (the controller's `--egress policy`): then a pod no Egress names reaches nothing."""
    own = rules.get(identity, ())
    return EgressView(open_, own) if open_ or own or (pod and (rules or enforced)) else None
