"""Pieces shared by the older specs versions: where HTTPRouteGroup `matches` live, the TCPRoute
ports annotation, and the HTTPRouteGroup headers annotation (v1alpha1 has no headers)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from smimesh.resources import codes_convert as codes
from smimesh.resources.meta import Resource
from smimesh.resources.specs import HTTPMatch, PortMatch, TCPRoute
from smimesh.resources.versions.support import conversion_error, stash, unstash

PORTS_FIELD = "ports"
HEADERS_FIELD = "headers"


def stash_ports(hub: TCPRoute, data: dict[str, Any]) -> None:
    """Down: older TCPRoutes cover every port; keep a narrower `spec.matches` in the annotation."""
    matches = data.pop("spec")["matches"]
    if matches != {"ports": []}:
        stash(data, PORTS_FIELD, matches)


def restore_ports(data: dict[str, Any], source: Resource) -> None:
    """Up: `spec.matches` from the annotation, else `ports: []` (every port, as the old version meant)."""
    matches = unstash(data, PORTS_FIELD, source, lambda text: PortMatch.model_validate_json(text).to_dict())
    data["spec"] = {"matches": matches if matches is not None else {"ports": []}}


def stash_headers(hub: Resource, matches: list[dict[str, Any]], data: dict[str, Any]) -> None:
    """Down to v1alpha1: headers leave each match and wait, by match name, in one annotation."""
    kept: dict[str, Any] = {}
    names = [match["name"] for match in matches]
    for index, match in enumerate(matches):
        headers = match.pop("headers", None)
        if headers is None:
            continue
        if names.count(match["name"]) > 1:  # the annotation is keyed by name: it would be ambiguous
            raise conversion_error(
                hub,
                codes.NOT_EXPRESSIBLE,
                f"several matches are named {match['name']!r}, so their headers cannot be kept apart",
                path=f"spec.matches[{index}].name",
                value=match["name"],
                hint="give every match a unique name (SMI requires it)",
            )
        kept[match["name"]] = headers
    if kept:
        stash(data, HEADERS_FIELD, kept)


def restore_headers(matches: list[dict[str, Any]], data: dict[str, Any], source: Resource) -> None:
    """Up from v1alpha1: put each match's headers back, in the layout they were written in."""
    kept = unstash(data, HEADERS_FIELD, source, _parse_headers)
    if kept is None:
        return
    names = {match["name"] for match in matches}
    if not set(kept) <= names:
        missing = sorted(set(kept) - names)
        raise conversion_error(
            source,
            codes.DAMAGED_ANNOTATION,
            f"the headers annotation names matches that no longer exist: {', '.join(missing)}",
            path="metadata.annotations.smimesh.io/conversion-headers",
            value=missing,
            hint="dropping their header conditions would widen access; restore the matches or the annotation",
        )
    for match in matches:
        if match["name"] in kept:
            match["headers"] = kept[match["name"]]


def _parse_headers(text: str) -> dict[str, Any]:
    import json

    kept = json.loads(text)
    if not isinstance(kept, dict):
        raise ValueError("not a map")
    try:
        for name, headers in kept.items():
            HTTPMatch.model_validate({"name": name, "headers": headers})
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    return kept
