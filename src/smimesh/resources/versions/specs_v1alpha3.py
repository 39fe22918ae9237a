"""`specs.smi-spec.io/v1alpha3`: HTTPRouteGroup as in the hub; TCPRoute with an empty `spec: {}`.

HTTPRouteGroup converts by changing apiVersion only. TCPRoute ports travel in the annotation.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel, SpokeResource
from smimesh.resources.specs import HTTPRouteGroup, HTTPRouteGroupSpec, TCPRoute
from smimesh.resources.versions.specs_common import restore_ports, stash_ports
from smimesh.resources.versions.support import body, build

API_VERSION = "specs.smi-spec.io/v1alpha3"


class HTTPRouteGroupV1Alpha3(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "HTTPRouteGroup"
    HUB: ClassVar[type[Resource]] = HTTPRouteGroup
    api_version: Literal["specs.smi-spec.io/v1alpha3"] = Field(
        default="specs.smi-spec.io/v1alpha3", alias="apiVersion"
    )
    kind: Literal["HTTPRouteGroup"] = "HTTPRouteGroup"
    spec: HTTPRouteGroupSpec

    def to_hub(self) -> HTTPRouteGroup:
        return build(HTTPRouteGroup, body(self, HTTPRouteGroup.API_VERSION), self)

    @classmethod
    def from_hub(cls, hub: Resource) -> HTTPRouteGroupV1Alpha3:
        assert isinstance(hub, HTTPRouteGroup)
        return build(cls, body(hub, API_VERSION), hub)


class EmptySpec(SmiModel):
    """TCPRoute v1alpha3 `spec: {}` (the Go type has no fields)."""


class TCPRouteV1Alpha3(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TCPRoute"
    HUB: ClassVar[type[Resource]] = TCPRoute
    api_version: Literal["specs.smi-spec.io/v1alpha3"] = Field(
        default="specs.smi-spec.io/v1alpha3", alias="apiVersion"
    )
    kind: Literal["TCPRoute"] = "TCPRoute"
    spec: EmptySpec | None = None

    def to_hub(self) -> TCPRoute:
        data = body(self, TCPRoute.API_VERSION)
        data.pop("spec", None)
        restore_ports(data, self)
        return build(TCPRoute, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TCPRouteV1Alpha3:
        assert isinstance(hub, TCPRoute)
        data = body(hub, API_VERSION)
        stash_ports(hub, data)
        data["spec"] = {}
        return build(cls, data, hub)
