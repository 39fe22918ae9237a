"""SMI HTTPRouteGroup matches as Gateway API `HTTPRouteMatch`es (also Linkerd's policy HTTPRoute).

One SMI match (path regex AND methods AND headers) becomes one Gateway match per (path branch,
method): Gateway matches in one rule are ORed and hold one method each. Exact values stay exact; a
path prefix or any other regex becomes a `RegularExpression` anchored at both ends (the same
language smimesh evaluates), reported as a note since the regex dialect is implementation-specific.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smimesh.export import codes
from smimesh.export.cel import path_value_problem
from smimesh.export.patterns import (
    Form,
    anchored_path_regex,
    anchored_value_regex,
    header_pattern,
    path_pattern,
)
from smimesh.mesh.model import HttpMatch

Note = Callable[[str, str], None]  # (code, message)


def gateway_matches(match: HttpMatch, note: Note) -> list[dict[str, Any]]:
    paths = _paths(match.path_regex, note)
    headers = [_header(name, regex, note) for name, regex in match.headers]
    methods: list[str | None] = list(match.methods) if not match.any_method else [None]
    result = []
    for path in paths:
        for method in methods:
            entry: dict[str, Any] = {}
            if path is not None:
                entry["path"] = path
            if method is not None:
                entry["method"] = method
            if headers:
                entry["headers"] = headers
            result.append(entry)
    return result


def _paths(path_regex: str, note: Note) -> list[dict[str, str] | None]:
    pattern = path_pattern(path_regex)
    if pattern.form is Form.ANY:
        return [None]
    pieces = pattern.simple
    if pieces and all(p.form is Form.EXACT and path_value_problem(p.literal) is None for p in pieces):
        return [{"type": "Exact", "value": p.literal} for p in pieces]
    note(codes.REGEX_EXTENDED, f"path regex {path_regex!r} exported as a RegularExpression path match")
    return [{"type": "RegularExpression", "value": anchored_path_regex(path_regex)}]


def _header(name: str, regex: str, note: Note) -> dict[str, str]:
    pattern = header_pattern(regex)
    if pattern.form is Form.EXACT:
        return {"type": "Exact", "name": name, "value": pattern.literal}
    note(codes.REGEX_EXTENDED, f"header {name} regex {regex!r} exported as a RegularExpression header match")
    return {"type": "RegularExpression", "name": name, "value": anchored_value_regex(regex)}
