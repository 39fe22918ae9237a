"""OSM's `policy.openservicemesh.io/v1alpha1` Retry and UpstreamTrafficSetting, as OSM published them.

Every field of the published CRDs (`tests/data/upstream/osm/policy_retry.yaml`,
`policy_upstream_traffic_setting.yaml`) is modelled, so a manifest written for OSM decodes unchanged
and a typo is still an unknown-field diagnostic. What smimesh does not run (global rate limiting:
it needs an external rate-limit service) decodes too, and `validate_osm` refuses it with a
diagnostic that says so, rather than a confusing "unknown field".

Durations stay text here (Go's `1s`, `250ms`, `1m30s`): `validate_osm` checks them with the field
path and line, and `durations.parse_duration` turns them into seconds for the mesh layer.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

GROUP = "policy.openservicemesh.io"
VERSION = f"{GROUP}/v1alpha1"

ApiVersion = Literal["policy.openservicemesh.io/v1alpha1"]
Unit = Literal["second", "minute", "hour"]
NonNegative = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]


class PolicySubject(SmiModel):
    """A `kind`/`name`/`namespace` reference (Retry: ServiceAccount source, Service destinations)."""

    kind: str
    name: str
    namespace: str


class RetryPolicySpec(SmiModel):
    retry_on: str = Field(alias="retryOn")
    per_try_timeout: str = Field(alias="perTryTimeout")
    num_retries: int = Field(alias="numRetries")
    retry_backoff_base_interval: str = Field(alias="retryBackoffBaseInterval")


class RetrySpec(SmiModel):
    source: PolicySubject
    destinations: list[PolicySubject]
    retry_policy: RetryPolicySpec = Field(alias="retryPolicy")


class Retry(Resource):
    """Retries of requests from one ServiceAccount to the listed Services (on the caller's sidecar)."""

    API_VERSION: ClassVar[str] = VERSION
    KIND: ClassVar[str] = "Retry"
    api_version: Literal["policy.openservicemesh.io/v1alpha1"] = Field(
        default="policy.openservicemesh.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["Retry"] = "Retry"
    spec: RetrySpec
    status: dict[str, Any] | None = None  # written by OSM's controller; pasted `kubectl get` output has it


class TcpConnectionSettings(SmiModel):
    max_connections: NonNegative | None = Field(default=None, alias="maxConnections")
    connect_timeout: str | None = Field(default=None, alias="connectTimeout")


class HttpConnectionSettings(SmiModel):
    max_requests: NonNegative | None = Field(default=None, alias="maxRequests")
    max_requests_per_connection: NonNegative | None = Field(default=None, alias="maxRequestsPerConnection")
    max_pending_requests: NonNegative | None = Field(default=None, alias="maxPendingRequests")
    max_retries: NonNegative | None = Field(default=None, alias="maxRetries")


class ConnectionSettings(SmiModel):
    tcp: TcpConnectionSettings | None = None
    http: HttpConnectionSettings | None = None


class HeaderValue(SmiModel):
    name: Annotated[str, Field(min_length=1)]
    value: Annotated[str, Field(min_length=1)]


class TcpLocalRateLimit(SmiModel):
    connections: Positive
    unit: Unit
    burst: int | None = None


class HttpLocalRateLimit(SmiModel):
    requests: Positive
    unit: Unit
    burst: int | None = None
    response_status_code: Annotated[int, Field(ge=400, le=599)] | None = Field(
        default=None, alias="responseStatusCode"
    )
    response_headers_to_add: list[HeaderValue] | None = Field(default=None, alias="responseHeadersToAdd")


class LocalRateLimit(SmiModel):
    tcp: TcpLocalRateLimit | None = None
    http: HttpLocalRateLimit | None = None


class RateLimit(SmiModel):
    local: LocalRateLimit | None = None
    # Needs an external rate-limit service smimesh does not run: decoded, then refused (validate_osm).
    global_: dict[str, Any] | None = Field(default=None, alias="global")


class RouteRateLimit(SmiModel):
    local: HttpLocalRateLimit | None = None
    global_: dict[str, Any] | None = Field(default=None, alias="global")


class HttpRouteSetting(SmiModel):
    path: Annotated[str, Field(min_length=1)] | None = None
    rate_limit: RouteRateLimit | None = Field(default=None, alias="rateLimit")


class UpstreamTrafficSettingSpec(SmiModel):
    host: str
    connection_settings: ConnectionSettings | None = Field(default=None, alias="connectionSettings")
    rate_limit: RateLimit | None = Field(default=None, alias="rateLimit")
    http_routes: list[HttpRouteSetting] | None = Field(default=None, alias="httpRoutes")


class UpstreamTrafficSetting(Resource):
    """Connection limits (caller side) and local rate limits (destination side) of one upstream host."""

    API_VERSION: ClassVar[str] = VERSION
    KIND: ClassVar[str] = "UpstreamTrafficSetting"
    api_version: Literal["policy.openservicemesh.io/v1alpha1"] = Field(
        default="policy.openservicemesh.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["UpstreamTrafficSetting"] = "UpstreamTrafficSetting"
    spec: UpstreamTrafficSettingSpec
    status: dict[str, Any] | None = None
