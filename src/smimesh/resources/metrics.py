"""Output types of `metrics.smi-spec.io/v1alpha1`: TrafficMetrics and TrafficMetricsList.

These are what the metrics API serves (SPEC-DIGEST §5); they are not mesh configuration, so the registry
lists them apart (`registry.output_kinds()`) and `decode()` refuses them as input. Metric values are
Kubernetes quantity strings (`"10m"`); latencies carry `unit: ms` (the SDK's unit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import SmiModel

GROUP = "metrics.smi-spec.io"
HUB_VERSION = f"{GROUP}/v1alpha1"
METRIC_NAMES = (
    "p99_response_latency",
    "p90_response_latency",
    "p50_response_latency",
    "success_count",
    "failure_count",
)


class ObjectReference(SmiModel):
    """core/v1 ObjectReference subset: `{}` = any object; only `namespace` = any in that namespace."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    api_version: str | None = Field(default=None, alias="apiVersion")


class MetricsMeta(SmiModel):
    name: str | None = None
    namespace: str | None = None
    self_link: str | None = Field(default=None, alias="selfLink")
    creation_timestamp: datetime | None = Field(default=None, alias="creationTimestamp", strict=False)
    resource_version: str | None = Field(default=None, alias="resourceVersion")


class Edge(SmiModel):
    direction: Literal["to", "from"]
    side: Literal["client", "server"] | None = None
    resource: ObjectReference | None = None


class SplitBackendRef(SmiModel):
    apex: str
    name: str
    weight: int


class Metric(SmiModel):
    name: str
    unit: str | None = None
    value: str | int | float  # a quantity; the spec examples also write bare numbers


class TrafficMetrics(SmiModel):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "TrafficMetrics"
    api_version: Literal["metrics.smi-spec.io/v1alpha1"] = Field(
        default="metrics.smi-spec.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TrafficMetrics"] = "TrafficMetrics"
    metadata: MetricsMeta = Field(default_factory=lambda: MetricsMeta())
    resource: ObjectReference
    edge: Edge | None = None
    backend: SplitBackendRef | None = None
    timestamp: datetime = Field(strict=False)
    window: str
    metrics: list[Metric]


class TrafficMetricsList(SmiModel):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "TrafficMetricsList"
    api_version: Literal["metrics.smi-spec.io/v1alpha1"] = Field(
        default="metrics.smi-spec.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TrafficMetricsList"] = "TrafficMetricsList"
    metadata: MetricsMeta = Field(default_factory=lambda: MetricsMeta())
    resource: ObjectReference
    selector: dict[str, Any] | None = None
    items: list[TrafficMetrics] | None = None
