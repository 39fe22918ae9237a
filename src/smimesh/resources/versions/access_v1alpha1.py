"""`access.smi-spec.io/v1alpha1` TrafficTarget: fields at the top level, rules are called `specs`.

Up: `specs` -> `spec.rules`, `destination.port` -> annotation (see `support.py`). Down: the reverse.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from smimesh.resources.access import TrafficTarget
from smimesh.resources.meta import Resource, SpokeResource
from smimesh.resources.versions.access_common import (
    LegacyDestination,
    LegacyRule,
    LegacySubject,
    hub_spec,
    legacy_parts,
)
from smimesh.resources.versions.support import body, build

API_VERSION = "access.smi-spec.io/v1alpha1"


class TrafficTargetV1Alpha1(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TrafficTarget"
    HUB: ClassVar[type[Resource]] = TrafficTarget
    api_version: Literal["access.smi-spec.io/v1alpha1"] = Field(
        default="access.smi-spec.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TrafficTarget"] = "TrafficTarget"
    destination: LegacyDestination
    specs: list[LegacyRule] | None = None
    sources: list[LegacySubject] | None = None

    def to_hub(self) -> TrafficTarget:
        data = body(self, TrafficTarget.API_VERSION)
        destination, specs, sources = data.pop("destination"), data.pop("specs", []), data.pop("sources", [])
        data["spec"] = hub_spec(destination, specs, sources, data["metadata"], self)
        return build(TrafficTarget, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TrafficTargetV1Alpha1:
        assert isinstance(hub, TrafficTarget)
        data = body(hub, API_VERSION)
        data["destination"], data["specs"], data["sources"] = legacy_parts(hub, data)
        return build(cls, data, hub)
