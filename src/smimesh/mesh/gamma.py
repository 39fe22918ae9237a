"""Gateway API (GAMMA) HTTPRoute match precedence, shared by the mesh (HTTPRoute input) and the export.

Gateway API orders the matches of every rule attached to a parent by specificity, not by list order
(HTTPRoute spec, `rules`: "Exact path match; Prefix path match with largest number of characters;
Method match; Largest number of header matches; Largest number of query param matches"), then by
route age, then route name, then rule and match order. Where a `RegularExpression` path stands is
left to implementations; smimesh ranks it between Exact and PathPrefix (as Envoy Gateway and Istio
do), longer regexes first. Matches are the JSON shape of `HTTPRouteMatch` (`{"path": {"type", "value"},
"method", "headers": [{"type", "name", "value"}]}`); an absent path is `PathPrefix /`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PATH_RANK = {"Exact": 3, "RegularExpression": 2, "PathPrefix": 1}


def path_of(match: Mapping[str, Any]) -> tuple[str, str]:
    path = match.get("path") or {}
    return str(path.get("type", "PathPrefix")), str(path.get("value", "/"))


def precedence_key(match: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """Larger = more specific = evaluated first."""
    kind, value = path_of(match)
    return (
        _PATH_RANK.get(kind, 0),
        len(value),
        1 if match.get("method") else 0,
        len(match.get("headers") or ()),
        len(match.get("queryParams") or ()),
    )


def _prefix_covers(prefix: str, path: str) -> bool:
    """Gateway PathPrefix: element-wise, a trailing slash ignored."""
    trimmed = prefix.rstrip("/")
    return path == trimmed or path.startswith(trimmed + "/") or trimmed == ""


def _paths_may_overlap(a: tuple[str, str], b: tuple[str, str]) -> bool:
    (kind_a, va), (kind_b, vb) = a, b
    if "RegularExpression" in (kind_a, kind_b):
        return True  # undecidable cheaply: assume they may
    if kind_a == kind_b == "Exact":
        return va == vb
    if kind_a == "Exact":
        return _prefix_covers(vb, va)
    if kind_b == "Exact":
        return _prefix_covers(va, vb)
    return _prefix_covers(va, vb) or _prefix_covers(vb, va)


def _exact_headers(match: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(h["name"]).lower(): str(h["value"])
        for h in match.get("headers") or ()
        if h.get("type", "Exact") == "Exact"
    }


def may_overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Could one request satisfy both matches? (Conservative: True unless provably disjoint.)"""
    if a.get("method") and b.get("method") and a["method"] != b["method"]:
        return False
    ha, hb = _exact_headers(a), _exact_headers(b)
    if any(name in hb and hb[name] != value for name, value in ha.items()):
        return False
    return _paths_may_overlap(path_of(a), path_of(b))
