"""`smimesh.io/v1alpha1` ResiliencePolicy: what neither SMI nor OSM defines for a destination Service.

A per-request timeout (for the whole service and per path), outlier detection (eject a replica
that keeps failing, take it back after the ejection time) and the opt-in to retry non-idempotent
methods under an OSM Retry. Applied on every caller's sidecar for requests to `service` (a Service
of the policy's namespace). Durations are Go-style text (`1s`, `250ms`), checked in `validate_osm`.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

VERSION = "smimesh.io/v1alpha1"


class RouteTimeout(SmiModel):
    path: Annotated[str, Field(min_length=1)]  # RE2, start-anchored like an HTTPRouteGroup pathRegex
    request_timeout: str = Field(alias="requestTimeout")


class OutlierDetection(SmiModel):
    consecutive_5xx: Annotated[int, Field(ge=1)] = Field(default=5, alias="consecutive5xx")
    interval: str = "10s"
    base_ejection_time: str = Field(default="30s", alias="baseEjectionTime")
    max_ejection_percent: Annotated[int, Field(ge=1, le=100)] = Field(default=10, alias="maxEjectionPercent")


class ResiliencePolicySpec(SmiModel):
    service: str
    request_timeout: str | None = Field(default=None, alias="requestTimeout")
    http_routes: list[RouteTimeout] = Field(default_factory=list, alias="httpRoutes")
    retry_non_idempotent: bool = Field(default=False, alias="retryNonIdempotent")
    outlier_detection: OutlierDetection | None = Field(default=None, alias="outlierDetection")


class ResiliencePolicy(Resource):
    API_VERSION: ClassVar[str] = VERSION
    KIND: ClassVar[str] = "ResiliencePolicy"
    api_version: Literal["smimesh.io/v1alpha1"] = Field(default="smimesh.io/v1alpha1", alias="apiVersion")
    kind: Literal["ResiliencePolicy"] = "ResiliencePolicy"
    spec: ResiliencePolicySpec
