"""AdmissionReview v1: refuse what `smimesh validate` calls an error, with the same code, path and hint.

The object (in the version the user wrote) is loaded exactly as a file would be (`resources.load_text`
without cross-object checks: admission sees one object, and a reference to something applied later is
legal in Kubernetes). Errors refuse the request (403) with every error's code, field path, found value
and hint in the message; warnings let it through as admission warnings (kubectl prints them).
Deletions are always allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.resources import load_text

MAX_WARNING = 500  # the API server truncates longer warnings; keep each one whole


def review(body: Mapping[str, Any]) -> dict[str, Any]:
    request = body.get("request") or {}
    uid = request.get("uid", "")
    obj = request.get("object")
    if request.get("operation") == "DELETE" or not isinstance(obj, dict):
        return _answer(uid, True)
    where = (
        f"{request.get('kind', {}).get('kind', '')}/{request.get('namespace', '')}/{request.get('name', '')}"
    )
    result = load_text(json.dumps(obj), source=where, references=False)
    errors = [d for d in result.diagnostics if d.is_error]
    warnings = [describe(d) for d in result.diagnostics if not d.is_error]
    if errors:
        message = "; ".join(describe(d) for d in errors)
        return _answer(uid, False, warnings, {"code": 403, "reason": "Forbidden", "message": message})
    return _answer(uid, True, warnings)


def describe(diagnostic: Diagnostic) -> str:
    """`SM3010 spec.matches[0].pathRegex: message; found: ...; expected: ...; hint: ...` on one line."""
    parts = [f"{diagnostic.code} {diagnostic.path or '(object)'}: {diagnostic.message}"]
    if diagnostic.value is not None:
        parts.append(f"found: {diagnostic.value}")
    if diagnostic.expected:
        parts.append(f"expected: {diagnostic.expected}")
    if diagnostic.hint:
        parts.append(f"hint: {diagnostic.hint}")
    return "; ".join(parts)[:MAX_WARNING]


def _answer(
    uid: str, allowed: bool, warnings: list[str] | None = None, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"uid": uid, "allowed": allowed}
    if warnings:
        response["warnings"] = warnings
    if status:
        response["status"] = status
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
