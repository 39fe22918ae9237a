"""Parsing a Kubernetes API path into (group, version, namespace, plural, name, subresource).

`/api/v1/namespaces/web/pods/p1/status` -> ("", "v1", "web", "pods", "p1", "status");
`/apis/split.smi-spec.io/v1alpha4/trafficsplits` -> (group, version, "", "trafficsplits", "", "").
`/api/v1/namespaces/web` is the Namespace object `web` itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiPath:
    group: str
    version: str
    namespace: str = ""
    plural: str = ""
    name: str = ""
    subresource: str = ""


def parse(prefix: str, rest: str) -> ApiPath | None:
    """`prefix` is "api" or "apis"; `rest` what follows it (no leading slash). None: not a resource path."""
    parts = [p for p in rest.split("/") if p]
    if prefix == "api":
        group, parts = "", parts
    else:
        if not parts:
            return None
        group, parts = parts[0], parts[1:]
    if not parts:
        return None
    version, parts = parts[0], parts[1:]
    if not parts:
        return ApiPath(group, version)
    namespace = ""
    is_namespace_object = parts[0] == "namespaces" and (
        len(parts) == 2 or parts[2:3] in (["status"], ["finalize"])
    )
    if parts[0] == "namespaces" and len(parts) >= 3 and not is_namespace_object:
        namespace, parts = parts[1], parts[2:]
    plural, name, sub = ([*parts, "", "", ""])[:3]
    return ApiPath(group, version, namespace, plural, name, sub)
