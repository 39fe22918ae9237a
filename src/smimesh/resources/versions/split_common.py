"""Pieces shared by split v1alpha1 and v1alpha2: `spec.matches` kept in an annotation (they cannot hold
it; dropping it would turn a conditional split into one that takes every request)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from smimesh.resources.meta import Resource
from smimesh.resources.split import MATCHES_ANNOTATION, SplitMatch
from smimesh.resources.versions.support import PREFIX, stash, unstash

MATCHES_FIELD = MATCHES_ANNOTATION.removeprefix(PREFIX)
_MATCHES = TypeAdapter(list[SplitMatch])


def stash_matches(data: dict[str, Any]) -> None:
    """Down: `spec.matches` leaves the spec for the annotation."""
    matches = data["spec"].pop("matches", None)
    if matches is not None:
        stash(data, MATCHES_FIELD, matches)


def restore_matches(data: dict[str, Any], source: Resource) -> None:
    """Up: `spec.matches` back from the annotation (refused if damaged: see `support.unstash`)."""
    matches = unstash(data, MATCHES_FIELD, source, _parse_matches)
    if matches is not None:
        data["spec"]["matches"] = matches


def _parse_matches(text: str) -> list[dict[str, Any]]:
    try:
        _MATCHES.validate_python(json.loads(text))
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    result: list[dict[str, Any]] = json.loads(text)
    return result
