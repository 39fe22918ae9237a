"""Pieces shared by access v1alpha1 and v1alpha2: the destination with `port`, rules without UDPRoute,
and the two directions of the `destination.port` <-> annotation and `specs`/`rules` mapping."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from smimesh.resources import codes_convert as codes
from smimesh.resources.access import DESTINATION_PORT_ANNOTATION, TrafficTarget
from smimesh.resources.meta import Resource, SmiModel
from smimesh.resources.versions.support import PREFIX, conversion_error, unstash

PORT_FIELD = DESTINATION_PORT_ANNOTATION.removeprefix(PREFIX)
assert PREFIX + PORT_FIELD == DESTINATION_PORT_ANNOTATION


class LegacyDestination(SmiModel):
    """v1alpha1/v1alpha2 destination: `port` restricts the allowance to one destination port."""

    kind: Literal["ServiceAccount"]
    name: str
    namespace: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None


class LegacySubject(SmiModel):
    kind: Literal["ServiceAccount"]
    name: str
    namespace: str | None = None


class LegacyRule(SmiModel):
    """Rule kinds before v1alpha3: HTTPRouteGroup and TCPRoute only."""

    kind: Literal["HTTPRouteGroup", "TCPRoute"]
    name: str
    matches: list[str] | None = None


def hub_spec(
    destination: dict[str, Any], rules: Any, sources: Any, metadata: dict[str, Any], source: Resource
) -> dict[str, Any]:
    """The hub `spec` from legacy parts; the port moves into the annotation in `metadata` (in place)."""
    port = destination.pop("port", None)
    if port is not None:
        annotations = metadata.setdefault("annotations", {})
        written = annotations.get(DESTINATION_PORT_ANNOTATION)
        if written is not None and written != str(port):
            raise conversion_error(
                source,
                codes.CONFLICTING_ANNOTATION,
                f"destination.port is {port} but annotation {DESTINATION_PORT_ANNOTATION} says {written}",
                path=f"metadata.annotations.{DESTINATION_PORT_ANNOTATION}",
                value=written,
                hint="remove the annotation; destination.port is what counts",
            )
        annotations[DESTINATION_PORT_ANNOTATION] = str(port)
    return {"destination": destination, "rules": rules, "sources": sources}


def legacy_parts(hub: TrafficTarget, data: dict[str, Any]) -> tuple[dict[str, Any], Any, Any]:
    """Destination (port restored from the annotation), rules and sources of a hub, for down-conversion."""
    refuse_udp_rules(hub)
    spec = data.pop("spec")
    destination = spec["destination"]
    port = unstash(data, PORT_FIELD, hub, _parse_port)
    if port is not None:
        destination["port"] = port
    return destination, spec.get("rules"), spec.get("sources")


def refuse_udp_rules(hub: TrafficTarget) -> None:
    for index, rule in enumerate(hub.spec.rules):
        if rule.kind == "UDPRoute":
            raise conversion_error(
                hub,
                codes.NOT_EXPRESSIBLE,
                "rules of kind UDPRoute exist only from access.smi-spec.io/v1alpha3",
                path=f"spec.rules[{index}].kind",
                value=rule.kind,
                expected="HTTPRouteGroup or TCPRoute",
                hint="keep this TrafficTarget in access.smi-spec.io/v1alpha3",
            )


def _parse_port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(text)
    return port
