"""ConversionReview v1: convert every object the API server sends to `desiredAPIVersion`.

The same code as `smimesh convert` (`resources.convert`, hub and spoke). One object that cannot be
converted fails the whole review, as the API expects (the API server then fails the request), with the
diagnostic's code, field path and hint in the message. Conversion never loses a field: what the target
version cannot hold travels in a `smimesh.io/conversion-*` annotation and comes back on the way up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from smimesh.errors import ConversionError
from smimesh.resources import convert, registry
from smimesh.resources.registry import UnknownKindError


def review(body: Mapping[str, Any]) -> dict[str, Any]:
    request = body.get("request") or {}
    uid = request.get("uid", "")
    desired = str(request.get("desiredAPIVersion", ""))
    try:
        converted = [convert_object(obj, desired) for obj in request.get("objects") or []]
    except ConversionFailed as exc:
        return _answer(uid, {"status": "Failure", "message": str(exc)}, [])
    return _answer(uid, {"status": "Success"}, converted)


def _answer(uid: str, result: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, Any]:
    response = {"uid": uid, "result": result, "convertedObjects": objects}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview", "response": response}


class ConversionFailed(Exception):
    """One object could not be converted; the message says which, why and how to fix it."""


def convert_object(obj: Mapping[str, Any], desired: str) -> dict[str, Any]:
    """`obj` in `desired`, keeping the metadata the API server set (uid, resourceVersion, ...) as is."""
    meta = dict(obj.get("metadata") or {})
    name = f"{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"
    try:
        model = registry.decode(obj)
        out = convert(model, desired).to_dict()
    except ConversionError as exc:
        details = "; ".join(f"{d.code} {d.path}: {d.message} (hint: {d.hint})" for d in exc.diagnostics)
        raise ConversionFailed(f"{name}: {details or exc.message}") from None
    except (ValidationError, UnknownKindError, ValueError) as exc:
        raise ConversionFailed(f"{name}: cannot read the object as {obj.get('apiVersion')}: {exc}") from None
    # The server's metadata wins over the model's rendering; the annotations are the conversion's.
    annotations = (out.get("metadata") or {}).get("annotations")
    out["metadata"] = (
        {**meta, "annotations": annotations}
        if annotations
        else {k: v for k, v in meta.items() if k != "annotations"}
    )
    return out
