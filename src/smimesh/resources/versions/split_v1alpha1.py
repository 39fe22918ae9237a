"""`split.smi-spec.io/v1alpha1` TrafficSplit: backend weights are Kubernetes quantities (`1` == `1000m`).

Up: every weight becomes its exact milli-value (`1` -> 1000, `500m` -> 500: the ratio 2:1 is kept; the Go
SDK's converter took the unscaled digits and turned it into 1:500). Weights finer than a milli (`0.5m`) are
not rounded: all weights are multiplied by the smallest factor that makes them whole, so every ratio stays
exact. Down: an integer weight w is written as the quantity whose milli-value is w (`100` -> `100m`,
`1000` -> `1`), so hub -> v1alpha1 -> hub is the identity. `matches` travel in an annotation.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from smimesh.resources.meta import Resource, SmiModel, SpokeResource
from smimesh.resources.quantity import QuantityError, format_milli, milli_value
from smimesh.resources.split import TrafficSplit
from smimesh.resources.versions.split_common import restore_matches, stash_matches
from smimesh.resources.versions.support import body, build

API_VERSION = "split.smi-spec.io/v1alpha1"


class QuantityBackend(SmiModel):
    service: str
    weight: str | int

    @field_validator("weight", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> Any:
        if isinstance(value, float) and math.isfinite(value):
            value = repr(value)  # a bare YAML 1.5; Kubernetes would want it quoted, we take it as written
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            try:
                milli = milli_value(value)
            except QuantityError as exc:
                raise ValueError(str(exc)) from None
            if milli < 0:
                raise ValueError("a weight must not be negative")
        return value

    @property
    def milli(self) -> Fraction:
        return milli_value(self.weight)


class TrafficSplitSpecV1Alpha1(SmiModel):
    service: str
    backends: list[QuantityBackend]


class TrafficSplitV1Alpha1(SpokeResource):
    API_VERSION: ClassVar[str] = API_VERSION
    KIND: ClassVar[str] = "TrafficSplit"
    HUB: ClassVar[type[Resource]] = TrafficSplit
    api_version: Literal["split.smi-spec.io/v1alpha1"] = Field(
        default="split.smi-spec.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TrafficSplit"] = "TrafficSplit"
    spec: TrafficSplitSpecV1Alpha1

    def to_hub(self) -> TrafficSplit:
        data = body(self, TrafficSplit.API_VERSION)
        for backend, weight in zip(data["spec"]["backends"], integer_weights(self), strict=True):
            backend["weight"] = weight
        restore_matches(data, self)
        return build(TrafficSplit, data, self)

    @classmethod
    def from_hub(cls, hub: Resource) -> TrafficSplitV1Alpha1:
        assert isinstance(hub, TrafficSplit)
        data = body(hub, API_VERSION)
        for backend in data["spec"]["backends"]:
            backend["weight"] = format_milli(backend["weight"])
        stash_matches(data)
        return build(cls, data, hub)


def integer_weights(split: TrafficSplitV1Alpha1) -> list[int]:
    """Milli-values, scaled up by the least common denominator when some are finer than a milli."""
    millis = [backend.milli for backend in split.spec.backends]
    scale = math.lcm(1, *(m.denominator for m in millis))
    return [int(m * scale) for m in millis]
