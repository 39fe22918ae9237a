"""What every spoke module needs to convert: lossy fields kept in annotations, and conversion errors.

Annotation scheme (documented in docs and the report): one annotation per field an older version cannot
hold, key `smimesh.io/conversion-<field>`, value the field's JSON as the newer version writes it:
    smimesh.io/conversion-destination-port   TrafficTarget v1alpha1/v1alpha2 destination.port  ("8080")
    smimesh.io/conversion-matches            TrafficSplit v1alpha3+ spec.matches               (JSON list)
    smimesh.io/conversion-ports              TCPRoute v1alpha4 spec.matches                     (JSON object)
    smimesh.io/conversion-headers            HTTPRouteGroup headers per match name              (JSON object)
Down-conversion writes the annotation; up-conversion reads it back into the field and removes it, so
hub -> spoke -> hub is the identity. A damaged annotation refuses the conversion (SM5004): restoring
nothing could widen access.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from smimesh.diagnostics import Diagnostic, ObjectRef, shorten
from smimesh.errors import ConversionError
from smimesh.resources import codes_convert as codes
from smimesh.resources.meta import Resource, SmiModel

PREFIX = "smimesh.io/conversion-"
ModelT = TypeVar("ModelT", bound=SmiModel)


def conversion_error(
    source: Resource,
    code: str,
    message: str,
    *,
    path: str = "",
    value: Any = None,
    expected: str = "",
    hint: str = "",
) -> ConversionError:
    """A `ConversionError` carrying one Diagnostic about `source`."""
    meta = source.metadata
    diagnostic = Diagnostic(
        code=code,
        message=message,
        object=ObjectRef(source.KIND, meta.namespace, meta.name),
        path=path,
        value=None if value is None else shorten(value),
        expected=expected,
        hint=hint,
    )
    return ConversionError(
        f"cannot convert {source.key} ({source.API_VERSION}): {message}", [diagnostic], hint=hint
    )


def build(cls: type[ModelT], data: dict[str, Any], source: Resource) -> ModelT:
    """Validate converted data as `cls`; a failure means the target version cannot hold it (SM5003)."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise conversion_error(
            source,
            codes.INVALID_IN_TARGET,
            f"not valid as {cls.__name__} {getattr(cls, 'API_VERSION', '')}: {first['msg']}",
            path=path,
            value=first.get("input"),
            hint="fix the object in its current version first",
        ) from None


def body(resource: Resource, api_version: str) -> dict[str, Any]:
    """The resource's JSON with another apiVersion: the start of every conversion."""
    data = resource.to_dict()
    data["apiVersion"] = api_version
    return data


def stash(data: dict[str, Any], field: str, value: Any) -> None:
    """Keep `value` (JSON-able) in the `conversion-<field>` annotation of a converted document."""
    annotations = data["metadata"].setdefault("annotations", {})
    annotations[PREFIX + field] = (
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    )


def unstash(
    data: dict[str, Any], field: str, source: Resource, parse: Callable[[str], Any] = json.loads
) -> Any:
    """Remove and return the `conversion-<field>` annotation's value (None if absent); refuse if damaged."""
    annotations: dict[str, str] = data["metadata"].get("annotations", {})
    text = annotations.pop(PREFIX + field, None)
    if not annotations:
        data["metadata"].pop("annotations", None)
    if text is None:
        return None
    try:
        return parse(text)
    except (ValueError, TypeError):
        raise conversion_error(
            source,
            codes.DAMAGED_ANNOTATION,
            f"annotation {PREFIX + field} cannot be read",
            path=f"metadata.annotations.{PREFIX + field}",
            value=text,
            expected="the JSON value smimesh wrote when it converted the object down",
            hint="remove the annotation and write the field in a version that has it",
        ) from None
