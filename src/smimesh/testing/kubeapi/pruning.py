"""Pruning unknown fields of custom resources against the version's structural schema.

kube-apiserver drops every field a CRD version's `openAPIV3Schema` does not define (below `metadata`
it applies ObjectMeta instead, which this server does not prune) and, per the request's
`fieldValidation`, says so: `Strict` refuses the request (400, "strict decoding error: unknown field
..."; kubectl's default), `Warn` (the server's default) answers with one warning per field, `Ignore`
stays silent. `x-kubernetes-preserve-unknown-fields` keeps everything below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_TOP = ("apiVersion", "kind", "metadata")


def version_schema(crd: Mapping[str, Any], version: str) -> Mapping[str, Any] | None:
    for entry in crd.get("spec", {}).get("versions", []):
        if entry.get("name") == version:
            return (entry.get("schema") or {}).get("openAPIV3Schema")
    return None


def prune(obj: dict[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Drop from `obj` (in place) what `schema` does not define; returns the dropped field paths."""
    dropped: list[str] = []
    properties = schema.get("properties") or {}
    for key in list(obj):
        if key in _TOP:
            continue
        if key in properties:
            _walk(obj[key], properties[key], key, dropped)
        elif not schema.get("x-kubernetes-preserve-unknown-fields"):
            del obj[key]
            dropped.append(key)
    return dropped


def _walk(node: Any, schema: Mapping[str, Any], path: str, dropped: list[str]) -> None:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(node, list) and "items" in schema:
        for index, item in enumerate(node):
            _walk(item, schema["items"], f"{path}[{index}]", dropped)
    elif isinstance(node, dict) and "properties" in schema:
        for key in list(node):
            if key in schema["properties"]:
                _walk(node[key], schema["properties"][key], f"{path}.{key}", dropped)
            else:
                del node[key]
                dropped.append(f"{path}.{key}")
    elif isinstance(node, dict) and isinstance(schema.get("additionalProperties"), Mapping):
        for key, value in node.items():
            _walk(value, schema["additionalProperties"], f"{path}.{key}", dropped)
