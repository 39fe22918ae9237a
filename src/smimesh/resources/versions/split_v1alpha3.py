"""`split.smi-spec.io/v1alpha3` TrafficSplit: the schema of the hub (v1alpha4); only apiVersion changes."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SpokeResource
from smimesh.resources.split import TrafficSplit, TrafficSplitSpec
from smimesh.resources.versions.support import body, build

API_VERSION = "split.smi-spec.io/v1alpha3"


class TrafficSplitV1Alpha3(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TrafficSplit"
    HUB: ClassVar[type[Resource]] = TrafficSplit
    api_version: Literal["split.smi-spec.io/v1alpha3"] = Field(
        default="split.smi-spec.io/v1alpha3", alias="apiVersion"
    )
    kind: Literal["TrafficSplit"] = "TrafficSplit"
    spec: TrafficSplitSpec

    def to_hub(self) -> TrafficSplit:
        return build(TrafficSplit, body(self, TrafficSplit.API_VERSION), self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TrafficSplitV1Alpha3:
        assert isinstance(hub, TrafficSplit)
        return build(cls, body(hub, API_VERSION), hub)
