"""`access.smi-spec.io/v1alpha2` TrafficTarget: under `spec`, with `rules` and an optional `destination.port`.

Up: `destination.port` -> annotation (see `support.py`). Down: the annotation -> `destination.port`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from smimesh.resources.access import TrafficTarget
from smimesh.resources.meta import Resource, SmiModel, SpokeResource
from smimesh.resources.versions.access_common import (
    LegacyDestination,
    LegacyRule,
    LegacySubject,
    hub_spec,
    legacy_parts,
)
from smimesh.resources.versions.support import body, build

API_VERSION = "access.smi-spec.io/v1alpha2"


class TrafficTargetSpecV1Alpha2(SmiModel):
    destination: LegacyDestination
    rules: list[LegacyRule] | None = None
    sources: list[LegacySubject] | None = None


class TrafficTargetV1Alpha2(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TrafficTarget"
    HUB: ClassVar[type[Resource]] = TrafficTarget
    api_version: Literal["access.smi-spec.io/v1alpha2"] = Field(
        default="access.smi-spec.io/v1alpha2", alias="apiVersion"
    )
    kind: Literal["TrafficTarget"] = "TrafficTarget"
    spec: TrafficTargetSpecV1Alpha2

    def to_hub(self) -> TrafficTarget:
        data = body(self, TrafficTarget.API_VERSION)
        spec = data.pop("spec")
        parts = spec["destination"], spec.get("rules", []), spec.get("sources", [])
        data["spec"] = hub_spec(*parts, data["metadata"], self)
        return build(TrafficTarget, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TrafficTargetV1Alpha2:
        assert isinstance(hub, TrafficTarget)
        data = body(hub, API_VERSION)
        destination, rules, sources = legacy_parts(hub, data)
        data["spec"] = {"destination": destination, "rules": rules, "sources": sources}
        return build(cls, data, hub)
