"""Just enough OpenAPI v3 for kubectl: every group version, each kind's PATCH taking `fieldValidation`.

kubectl (1.27+) reads `/openapi/v3` to learn whether the server validates fields itself; if it does, it
sends `fieldValidation=Strict` instead of downloading every schema to validate on the client. No schemas
are served: this server does not validate built-in kinds (docs/kubernetes.md).
"""

from __future__ import annotations

from typing import Any

from smimesh.testing.kubeapi.catalog import Catalog, ResourceType


def _gv_paths(catalog: Catalog) -> dict[str, list[tuple[ResourceType, str]]]:
    found: dict[str, list[tuple[ResourceType, str]]] = {}
    for rtype in catalog.all():
        for version in rtype.versions:
            gv = f"apis/{rtype.group}/{version}" if rtype.group else f"api/{version}"
            found.setdefault(gv, []).append((rtype, version))
    return found


def root(catalog: Catalog) -> dict[str, Any]:
    return {
        "paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash=smimesh"} for gv in _gv_paths(catalog)}
    }


def group_version(catalog: Catalog, gv: str) -> dict[str, Any] | None:
    members = _gv_paths(catalog).get(gv)
    if members is None:
        return None
    paths = {
        f"/{gv}/{rtype.plural}/{{name}}": {"patch": _patch(rtype, version)} for rtype, version in members
    }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.29.0"}, "paths": paths}


def _patch(rtype: ResourceType, version: str) -> dict[str, Any]:
    return {
        "x-kubernetes-group-version-kind": {"group": rtype.group, "version": version, "kind": rtype.kind},
        "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
        "responses": {},
    }
