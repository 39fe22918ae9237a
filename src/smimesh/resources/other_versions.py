"""Documents written for another version of their kind, as SMI examples and conformance suites write them.

Owns two things the loader asks: `decode_tolerant` decodes a document, dropping each field that its
apiVersion lacks but another version of the kind defines (warning SM2009, saying what the object then
allows or matches), as a Kubernetes API server prunes it; `fitting_versions` names the versions of a
kind whose layout a document without `apiVersion` fits, for the hint of SM2001.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from smimesh.diagnostics import Diagnostic, Severity, shorten
from smimesh.resources import codes, registry
from smimesh.resources.decode_errors import diagnostics_from_error, foreign_fields
from smimesh.resources.document import Document, Path, format_path
from smimesh.resources.meta import Resource
from smimesh.resources.version_gaps import gap_of


def decode_tolerant(
    document: Document, model: type[Resource]
) -> tuple[Resource | None, Document, list[Diagnostic]]:
    """(model or None, the document as decoded, diagnostics): fields of other versions are dropped."""
    try:
        return registry.decode(document.data), document, []
    except ValidationError as exc:
        foreign = foreign_fields(exc, document, model)
        if not foreign:
            return None, document, diagnostics_from_error(exc, document, model)
    warnings = [_ignored(document, model, path, versions) for path, versions in foreign]
    kept = replace(document, data=_without(document.data, [path for path, _ in foreign]))
    try:
        return registry.decode(kept.data), kept, warnings
    except ValidationError as exc:
        return None, kept, warnings + diagnostics_from_error(exc, kept, model)


def _ignored(document: Document, model: type[Resource], path: Path, versions: list[str]) -> Diagnostic:
    gap = gap_of(model.KIND, str(path[-1]))
    effect = f": {gap.without}" if gap else ""
    where = format_path(path)
    return Diagnostic(
        codes.FOREIGN_VERSION_FIELD,
        f"`{where}` belongs to {' and '.join(versions)}, not {model.API_VERSION}; it is ignored{effect}",
        Severity.WARNING,
        document.location(path),
        document.ref(),
        where,
        shorten(_at(document.data, path)),
        f"the fields of {model.API_VERSION}",
        f"to have it, write `apiVersion: {versions[-1]}` (`smimesh convert` rewrites the rest), "
        "or remove the field",
    )


def _at(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def _without(data: dict[str, Any], paths: list[Path]) -> dict[str, Any]:
    """A copy of `data` without the fields at `paths`."""
    kept = copy.deepcopy(data)
    for path in paths:
        del _at(kept, path[:-1])[path[-1]]
    return kept


def fitting_versions(data: dict[str, Any], kind: str) -> list[str]:
    """The apiVersions of `kind` (oldest first) under which `data`, given that apiVersion, is valid."""
    fits = []
    for api_version in registry.versions_of(kind):
        try:
            registry.decode({**data, "apiVersion": api_version, "kind": kind})
        except ValidationError:
            continue
        fits.append(api_version)
    return fits
