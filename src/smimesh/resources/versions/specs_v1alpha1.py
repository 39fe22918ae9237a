"""`specs.smi-spec.io/v1alpha1`: HTTPRouteGroup with top-level `matches`, no headers; TCPRoute, no fields.

Down from the hub: headers and TCPRoute ports move into annotations (see `support.py`); up: back.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel, SpokeResource
from smimesh.resources.specs import HTTPMethod, HTTPRouteGroup, TCPRoute
from smimesh.resources.versions.specs_common import restore_headers, restore_ports, stash_headers, stash_ports
from smimesh.resources.versions.support import body, build

API_VERSION = "specs.smi-spec.io/v1alpha1"


class HTTPMatchV1Alpha1(SmiModel):
    name: str
    path_regex: str | None = Field(default=None, alias="pathRegex")
    methods: list[HTTPMethod] | None = None


class HTTPRouteGroupV1Alpha1(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "HTTPRouteGroup"
    HUB: ClassVar[type[Resource]] = HTTPRouteGroup
    api_version: Literal["specs.smi-spec.io/v1alpha1"] = Field(
        default="specs.smi-spec.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["HTTPRouteGroup"] = "HTTPRouteGroup"
    matches: list[HTTPMatchV1Alpha1]

    def to_hub(self) -> HTTPRouteGroup:
        data = body(self, HTTPRouteGroup.API_VERSION)
        matches = data.pop("matches")
        restore_headers(matches, data, self)
        data["spec"] = {"matches": matches}
        return build(HTTPRouteGroup, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> HTTPRouteGroupV1Alpha1:
        assert isinstance(hub, HTTPRouteGroup)
        data = body(hub, API_VERSION)
        data["matches"] = data.pop("spec")["matches"]
        stash_headers(hub, data["matches"], data)
        return build(cls, data, hub)


class TCPRouteV1Alpha1(SpokeResource):
    """Metadata only: "raw TCP to the destination, every port"."""

    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TCPRoute"
    HUB: ClassVar[type[Resource]] = TCPRoute
    api_version: Literal["specs.smi-spec.io/v1alpha1"] = Field(
        default="specs.smi-spec.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TCPRoute"] = "TCPRoute"

    def to_hub(self) -> TCPRoute:
        data = body(self, TCPRoute.API_VERSION)
        restore_ports(data, self)
        return build(TCPRoute, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TCPRouteV1Alpha1:
        assert isinstance(hub, TCPRoute)
        data = body(hub, API_VERSION)
        stash_ports(hub, data)
        return build(cls, data, hub)
