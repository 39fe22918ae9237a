"""`specs.smi-spec.io/v1alpha2`: HTTPRouteGroup with top-level `matches` (+ headers); TCPRoute, no fields.

Up: `matches` move under `spec`; TCPRoute gets `ports: []` or its ports back from the annotation.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SpokeResource
from smimesh.resources.specs import HTTPMatch, HTTPRouteGroup, TCPRoute
from smimesh.resources.versions.specs_common import restore_ports, stash_ports
from smimesh.resources.versions.support import body, build

API_VERSION = "specs.smi-spec.io/v1alpha2"


class HTTPRouteGroupV1Alpha2(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "HTTPRouteGroup"
    HUB: ClassVar[type[Resource]] = HTTPRouteGroup
    api_version: Literal["specs.smi-spec.io/v1alpha2"] = Field(
        default="specs.smi-spec.io/v1alpha2", alias="apiVersion"
    )
    kind: Literal["HTTPRouteGroup"] = "HTTPRouteGroup"
    matches: list[HTTPMatch]

    def to_hub(self) -> HTTPRouteGroup:
        data = body(self, HTTPRouteGroup.API_VERSION)
        data["spec"] = {"matches": data.pop("matches")}
        return build(HTTPRouteGroup, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> HTTPRouteGroupV1Alpha2:
        assert isinstance(hub, HTTPRouteGroup)
        data = body(hub, API_VERSION)
        data["matches"] = data.pop("spec")["matches"]
        return build(cls, data, hub)


class TCPRouteV1Alpha2(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TCPRoute"
    HUB: ClassVar[type[Resource]] = TCPRoute
    api_version: Literal["specs.smi-spec.io/v1alpha2"] = Field(
        default="specs.smi-spec.io/v1alpha2", alias="apiVersion"
    )
    kind: Literal["TCPRoute"] = "TCPRoute"

    def to_hub(self) -> TCPRoute:
        data = body(self, TCPRoute.API_VERSION)
        restore_ports(data, self)
        return build(TCPRoute, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TCPRouteV1Alpha2:
        assert isinstance(hub, TCPRoute)
        data = body(hub, API_VERSION)
        stash_ports(hub, data)
        return build(cls, data, hub)
