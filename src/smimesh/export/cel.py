"""The CEL rules of the published CRDs that a plain JSON-schema check misses, for the fields we emit.

Ported by hand from the `x-kubernetes-validations` of `gateway.networking.k8s.io_httproutes.yaml`
(tests/data/upstream/gateway-api; the rule text is quoted beside each check) and the list-map keys the schemas
declare (`x-kubernetes-list-type: map`). `problems(obj)` returns one message per broken rule
(empty = valid); the export runs it on every object it produces, so a bug shows as SM8301 instead
of an API server rejecting the apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from smimesh.resources.gateway import path_value_problem

__all__ = ["path_value_problem", "problems"]

_MAX_RULES, _MAX_MATCHES_TOTAL = 16, 128


def _unique(items: Iterable[dict[str, Any]], key: tuple[str, ...]) -> bool:
    seen = [
        tuple(str(item.get(k, "")).lower() if k == "name" else item.get(k) for k in key) for item in items
    ]
    return len(seen) == len(set(seen))


def _httproute_problems(spec: dict[str, Any]) -> list[str]:
    found: list[str] = []
    parents = spec.get("parentRefs") or []
    # 'self.all(p1, self.exists_one(p2, p1.group == p2.group && p1.kind == p2.kind && p1.name == p2.name ...'
    if not _unique(parents, ("group", "kind", "namespace", "name", "port", "sectionName")):
        found.append(
            "spec.parentRefs: sectionName or port must be specified when parentRefs includes "
            "2 or more references to the same parent"
        )
    rules = spec.get("rules") or []
    if len(rules) > _MAX_RULES:
        found.append(f"spec.rules: at most {_MAX_RULES} rules")
    # '(self.size() > 0 ? self[0].matches.size() : 0) + ... <= 128'
    if sum(len(r.get("matches") or ()) for r in rules) > _MAX_MATCHES_TOTAL:
        found.append(
            "spec.rules: while 16 rules and 64 matches per rule are allowed, the total number of "
            "matches across all rules in a route must be less than 128"
        )
    for i, rule in enumerate(rules):
        found += _rule_problems(f"spec.rules[{i}]", rule)
    return found


def _rule_problems(where: str, rule: dict[str, Any]) -> list[str]:
    found = []
    for j, match in enumerate(rule.get("matches") or ()):
        path = match.get("path")
        if path and path.get("type", "PathPrefix") in ("Exact", "PathPrefix"):
            problem = path_value_problem(str(path.get("value", "/")))
            if problem:
                found.append(f"{where}.matches[{j}].path.value: {problem}")
        if not _unique(match.get("headers") or (), ("name",)):  # listType map, key name (case-insensitive)
            found.append(f"{where}.matches[{j}].headers: header names must be unique")
    for k, ref in enumerate(rule.get("backendRefs") or ()):
        # '(size(self.group) == 0 && self.kind == ''Service'') ? has(self.port) : true'
        if ref.get("group", "") == "" and ref.get("kind", "Service") == "Service" and "port" not in ref:
            found.append(f"{where}.backendRefs[{k}]: must specify port for Service reference")
    return found


def problems(obj: dict[str, Any]) -> list[str]:
    """Broken CEL rules of one exported object (only kinds with rules we can break are checked)."""
    if obj.get("kind") == "HTTPRoute" and str(obj.get("apiVersion", "")).startswith(
        "gateway.networking.k8s.io/"
    ):
        return _httproute_problems(obj.get("spec") or {})
    if obj.get("kind") == "HTTPRoute":  # policy.linkerd.io carries the same rules for matches
        return _httproute_problems(obj.get("spec") or {})
    if obj.get("kind") == "ServiceSplitter":
        total = round(sum(float(s.get("weight", 0)) for s in obj["spec"].get("splits") or ()), 2)
        return [] if total == 100 else [f"spec.splits: weights must add up to 100, found {total}"]
    return []
