"""Label and field selectors, as the API server parses them from `labelSelector=` / `fieldSelector=`.

Label selectors: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (absent),
comma-separated (AND). Field selectors: `path=v`, `path==v`, `path!=v` on any dotted path of the object
(kube-apiserver supports only a few paths per kind — `metadata.name`, `metadata.namespace` everywhere,
e.g. `spec.nodeName`, `status.phase` for pods; this server accepts any path: a superset). A malformed
selector raises `SelectorError` (the server answers 400 BadRequest).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_SET = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_./-]*)\s*$")


class SelectorError(ValueError):
    """A selector that does not parse."""


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def label_selector(text: str | None) -> Predicate:
    """A predicate on objects for a label selector (None or "" selects everything)."""
    tests = [_label_term(term) for term in _split(text or "")]
    return lambda obj: all(test(_labels(obj)) for test in tests)


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _label_term(term: str) -> Callable[[Mapping[str, str]], bool]:
    eq = _EQ.match(term)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    found = _SET.match(term)
    if not found:
        raise SelectorError(f"unable to parse requirement: {term!r}")
    negated, key, op, values = found.groups()
    if op is None:
        return (lambda labels: key not in labels) if negated else (lambda labels: key in labels)
    if negated:
        raise SelectorError(f"unable to parse requirement: {term!r}")
    members = {v.strip() for v in values.split(",") if v.strip()}
    if op == "in":
        return lambda labels: labels.get(key) in members
    return lambda labels: labels.get(key) not in members


def field_selector(text: str | None) -> Predicate:
    """A predicate on objects for a field selector (None or "" selects everything)."""
    tests = []
    for term in _split(text or ""):
        eq = _EQ.match(term)
        if not eq:
            raise SelectorError(f"invalid field selector: {term!r}")
        tests.append(_field_term(*eq.groups()))
    return lambda obj: all(test(obj) for test in tests)


def _field_term(path: str, op: str, value: str) -> Predicate:
    def read(obj: Mapping[str, Any]) -> str:
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return "" if node is None else str(node).lower() if isinstance(node, bool) else str(node)

    if op == "!=":
        return lambda obj: read(obj) != value
    return lambda obj: read(obj) == value
