"""`split.smi-spec.io/v1alpha2` TrafficSplit: integer weights, no `matches` (kept in an annotation)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel, SpokeResource
from smimesh.resources.split import TrafficSplit, TrafficSplitBackend
from smimesh.resources.versions.split_common import restore_matches, stash_matches
from smimesh.resources.versions.support import body, build

API_VERSION = "split.smi-spec.io/v1alpha2"


class TrafficSplitSpecV1Alpha2(SmiModel):
    service: str
    backends: list[TrafficSplitBackend]


class TrafficSplitV1Alpha2(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TrafficSplit"
    HUB: ClassVar[type[Resource]] = TrafficSplit
    api_version: Literal["split.smi-spec.io/v1alpha2"] = Field(
        default="split.smi-spec.io/v1alpha2", alias="apiVersion"
    )
    kind: Literal["TrafficSplit"] = "TrafficSplit"
    spec: TrafficSplitSpecV1Alpha2

    def to_hub(self) -> TrafficSplit:
        data = body(self, TrafficSplit.API_VERSION)
        restore_matches(data, self)
        return build(TrafficSplit, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TrafficSplitV1Alpha2:
        assert isinstance(hub, TrafficSplit)
        data = body(hub, API_VERSION)
        stash_matches(data)
        return build(cls, data, hub)
