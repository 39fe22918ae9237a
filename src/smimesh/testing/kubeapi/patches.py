"""PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902: add, remove, replace, test).

A strategic merge patch (what kubectl sends for built-in kinds) is applied as a merge patch here: lists
are replaced whole instead of merged by their merge keys (docs/kubernetes.md lists this difference).
"""

from __future__ import annotations

import copy
from typing import Any

from smimesh.testing.kubeapi.objects import ApiError


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def json_patch(doc: Any, operations: list[dict[str, Any]]) -> Any:
    out = copy.deepcopy(doc)
    for op in operations:
        try:
            out = _apply(out, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(
                422, "Invalid", f"the JSON patch operation {op} cannot be applied: {exc}"
            ) from None
    return out


def _apply(doc: Any, op: dict[str, Any]) -> Any:
    parts = _pointer(op["path"])
    if not parts:
        return copy.deepcopy(op.get("value"))
    parent, last = _parent(doc, parts), parts[-1]
    kind = op["op"]
    if kind == "test":
        current = parent[int(last)] if isinstance(parent, list) else parent[last]
        if current != op.get("value"):
            raise ValueError(f"test failed at {op['path']}")
    elif kind == "remove":
        del parent[int(last) if isinstance(parent, list) else last]
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        else:
            parent[index] = copy.deepcopy(op["value"])
    elif kind in ("add", "replace"):
        if kind == "replace" and last not in parent:
            raise KeyError(last)
        parent[last] = copy.deepcopy(op["value"])
    else:
        raise ValueError(f"unsupported op {kind!r}")
    return doc
