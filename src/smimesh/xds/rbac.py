"""RBAC: the TrafficTargets that protect one inbound port, as Envoy's HTTP and network RBAC filters.

Owns `InboundAccess` (the frozen, hashable access input of one inbound listener) and the filters
built from it. The port gating (destination port of a v1alpha1/2 target, TCPRoute ports narrowing
an HTTP rule, TCP/UDP port cover) is decided by `mesh.access.decide`, the same function `explain`
evaluates, so a rule lands in Envoy exactly when `explain` would consider it. What stays
per-request (method, path, headers) is translated match for match:

- principals: the sources' SPIFFE URIs, checked against the authenticated peer certificate only
  (never a header: XFCC is sanitized by the inbound connection manager);
- HTTP permission per match: `:method` in the match's methods (none or `*` = any method), path
  `^(?:re).*` on the path without its query (start-anchored, end-open: SPEC-DIGEST A3; `(?:re)`,
  the whole path, with MeshConfig `pathRegexMatch: full`), every header full-matched by RE2 (A4;
  `host` is `:authority`); a target whose rules select no match allows nothing; TCP permission, and
  HTTP permission of a TCPRoute-only target with MeshConfig `tcpRouteAdmitsHttp: true`: any (the
  port was checked when the rule was chosen);
- one policy per TrafficTarget, named `TrafficTarget/<ns>/<name>`; several targets are a union. The
  port counts its verdicts (`http.inbound_<port>.rbac.allowed` / `.denied`), not per policy: Envoy's
  `track_per_rule_stats` looks a counter up by a name built per request (about 3.6k instructions,
  issue 10); what each match served is counted per route instead, and with enforced RBAC those
  routes admit their callers without the filter, so `allowed` counts only what the filter judged
  (xds/route_stats.py);
- `audit`: the same rules as shadow rules (stats `audit.` prefix, denials logged) and no
  enforcement; `open` traffic policy: no RBAC at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from envoy.config.rbac.v3 import rbac_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac
from envoy.extensions.filters.network.rbac.v3 import rbac_pb2 as network_rbac
from envoy.type.matcher.v3 import path_pb2, regex_pb2, string_pb2

from smimesh.mesh.access import TrafficPolicy, decide, l4_admits_http, path_pattern
from smimesh.mesh.model import HttpMatch, Identity, MeshModel, Protocol
from smimesh.mesh.visibility import derived

HTTP_RBAC_FILTER = "envoy.filters.http.rbac"
NETWORK_RBAC_FILTER = "envoy.filters.network.rbac"
AUDIT_STAT_PREFIX = "audit."


@dataclass(frozen=True, slots=True, order=True)
class AccessRule:
    """One TrafficTarget as it applies to one port: who, and (HTTP) which matches; None = anything."""

    policy: str
    principals: tuple[str, ...]
    matches: tuple[HttpMatch, ...] | None
    groups: tuple[str, ...] = ()  # the HTTPRouteGroup of each match (same order), for per-route stats


@dataclass(frozen=True, slots=True)
class InboundAccess:
    """Everything the RBAC of one inbound port depends on (an lru_cache key: keep it small)."""

    port_name: str
    protocol: Protocol
    rules: tuple[AccessRule, ...] = ()
    enforce: bool = True  # False in `open` traffic policy: no RBAC filter
    audit: bool = False  # shadow rules only; would-be denials are allowed and logged
    path_regex_full: bool = False  # MeshConfig `pathRegexMatch: full`: pathRegex matches the whole path


def _rule(model: MeshModel, policy_index: int, port: int, protocol: Protocol) -> AccessRule | None:
    policy = model.policies[policy_index]
    if decide(policy, port, protocol, None, model.semantics) is None:
        return None  # the port gate (or the absence of any usable match) closes it for this port
    principals = tuple(sorted(source.spiffe(model.trust_domain) for source in policy.sources))
    per_request = protocol.is_http and not l4_admits_http(policy, port, model.semantics)
    matches = tuple(m.match for m in policy.http) if per_request else None
    groups = tuple(m.group for m in policy.http) if per_request else ()
    return AccessRule(policy.ref, principals, matches, groups) if principals else None


def _policies_by_destination(policies: tuple[TrafficPolicy, ...]) -> dict[Identity, tuple[int, ...]]:
    """Each destination's policy indexes in model order (a sidecar's RBAC reads only its own
    identity's policies, instead of scanning every policy of the mesh per inbound port)."""
    found: dict[Identity, list[int]] = {}
    for index, policy in enumerate(policies):
        found.setdefault(policy.destination, []).append(index)
    return {destination: tuple(each) for destination, each in found.items()}


def inbound_access(
    model: MeshModel,
    identity: Identity,
    port_name: str,
    container_port: int,
    protocol: Protocol,
    *,
    audit: bool = False,
) -> InboundAccess:
    """The access input of one inbound port of a sidecar running as `identity`."""
    if model.permissive:
        return InboundAccess(port_name, protocol, enforce=False)
    # Once per model, or reused from the previous build while the policies are equal (endpoint churn).
    by_destination = derived(model, "rbac-by-destination", model.policies, _policies_by_destination)
    indexes = by_destination.get(identity, ())
    # What the rules read: this destination's policies, the semantics and the trust domain; reused
    # from the previous build while they are equal (a view recomputed for an upstream's change).
    source = (tuple(model.policies[i] for i in indexes), model.semantics, model.trust_domain)

    def build(_source: object) -> InboundAccess:
        found = (_rule(model, index, container_port, protocol) for index in indexes)
        rules = tuple(r for r in found if r is not None)
        return InboundAccess(port_name, protocol, rules, True, audit, model.semantics.path_regex_full)

    name = ("rbac-access", identity, port_name, container_port, protocol, audit)
    access: InboundAccess = derived(model, name, source, build)
    return access


def _regex(pattern: str) -> regex_pb2.RegexMatcher:
    return regex_pb2.RegexMatcher(regex=pattern)  # RE2 is Envoy's only engine


def _header(name: str, regex: str) -> rbac_pb2.Permission:
    envoy_name = ":authority" if name == "host" else name
    matcher = rc.HeaderMatcher(
        name=envoy_name, string_match=string_pb2.StringMatcher(safe_regex=_regex(regex))
    )
    return rbac_pb2.Permission(header=matcher)


def _method(method: str) -> rbac_pb2.Permission:
    return rbac_pb2.Permission(
        header=rc.HeaderMatcher(name=":method", string_match=string_pb2.StringMatcher(exact=method))
    )


def match_permission(match: HttpMatch, path_regex_full: bool = False) -> rbac_pb2.Permission:
    """One HTTPRouteGroup match: method ∧ path ∧ every header (an empty match allows any request)."""
    parts: list[rbac_pb2.Permission] = []
    if not match.any_method:
        methods = [_method(m) for m in sorted(match.methods)]
        parts.append(
            methods[0]
            if len(methods) == 1
            else rbac_pb2.Permission(or_rules=rbac_pb2.Permission.Set(rules=methods))
        )
    if match.path_regex:
        path = path_pb2.PathMatcher(
            path=string_pb2.StringMatcher(safe_regex=_regex(path_pattern(match.path_regex, path_regex_full)))
        )
        parts.append(rbac_pb2.Permission(url_path=path))
    parts.extend(_header(name, regex) for name, regex in match.headers)
    if not parts:
        return rbac_pb2.Permission(any=True)
    return (
        parts[0] if len(parts) == 1 else rbac_pb2.Permission(and_rules=rbac_pb2.Permission.Set(rules=parts))
    )


def _policy(rule: AccessRule, path_regex_full: bool) -> rbac_pb2.Policy:
    principals = [
        rbac_pb2.Principal(
            authenticated=rbac_pb2.Principal.Authenticated(principal_name=string_pb2.StringMatcher(exact=uri))
        )
        for uri in rule.principals
    ]
    if rule.matches is None:
        permissions = [rbac_pb2.Permission(any=True)]
    else:
        permissions = [match_permission(m, path_regex_full) for m in rule.matches]
    return rbac_pb2.Policy(permissions=permissions, principals=principals)


def rbac_rules(access: InboundAccess) -> rbac_pb2.RBAC:
    """ALLOW policies of every rule; no rule at all means default deny (an empty ALLOW list)."""
    full = access.path_regex_full
    policies = {rule.policy: _policy(rule, full) for rule in access.rules if rule.matches != ()}
    return rbac_pb2.RBAC(action=rbac_pb2.RBAC.ALLOW, policies=policies)


def allowed_principals(access: InboundAccess) -> tuple[str, ...]:
    """Every SPIFFE URI some policy of `rbac_rules` names (a TCP port's callers worth a handshake)."""
    return tuple(sorted({p for rule in access.rules if rule.matches != () for p in rule.principals}))


@lru_cache(maxsize=1 << 14)
def http_rbac_filter(access: InboundAccess) -> http_rbac.RBAC | None:
    """The HTTP RBAC filter config of one inbound port (None when access control is off). Cached like
    the other generators' messages (a view recomputed for an upstream change has the same access):
    callers copy it into their own messages and never change it."""
    if not access.enforce:
        return None
    rules = rbac_rules(access)
    if access.audit:
        return http_rbac.RBAC(shadow_rules=rules, shadow_rules_stat_prefix=AUDIT_STAT_PREFIX)
    return http_rbac.RBAC(rules=rules)


def network_rbac_filter(access: InboundAccess) -> network_rbac.RBAC | None:
    """The network RBAC filter config of one inbound TCP port (None when access control is off)."""
    if not access.enforce:
        return None
    rules = rbac_rules(access)
    prefix = f"inbound_{access.port_name}."
    if access.audit:
        return network_rbac.RBAC(
            stat_prefix=prefix, shadow_rules=rules, shadow_rules_stat_prefix=AUDIT_STAT_PREFIX
        )
    return network_rbac.RBAC(stat_prefix=prefix, rules=rules)
