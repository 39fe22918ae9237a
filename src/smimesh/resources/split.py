"""Hub model of `split.smi-spec.io/v1alpha4`: TrafficSplit (weighted shifting between backends of a root).

Weights are relative non-negative integers (v1alpha1 Quantities are converted by milli-value in
`versions/split_v1alpha1.py`). `matches` (HTTPRouteGroups in the split's namespace, whole groups) make the
split conditional; absent = every request for the root.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

GROUP = "split.smi-spec.io"
HUB_VERSION = f"{GROUP}/v1alpha4"
MATCHES_ANNOTATION = "smimesh.io/conversion-matches"

Weight = Annotated[int, Field(ge=0)]


class TrafficSplitBackend(SmiModel):
    service: str
    weight: Weight


class SplitMatch(SmiModel):
    """A reference to a whole HTTPRouteGroup (the only kind SMI allows here)."""

    kind: Literal["HTTPRouteGroup"]
    name: str


class TrafficSplitSpec(SmiModel):
    service: str
    backends: list[TrafficSplitBackend]
    matches: list[SplitMatch] | None = None


class TrafficSplit(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "TrafficSplit"
    api_version: Literal["split.smi-spec.io/v1alpha4"] = Field(
        default="split.smi-spec.io/v1alpha4", alias="apiVersion"
    )
    kind: Literal["TrafficSplit"] = "TrafficSplit"
    spec: TrafficSplitSpec
