"""Flagger's `flagger.app/v1beta1` Canary, read as Flagger's CRD defines it (issue 14).

Every field of Flagger's published schema (`resources/data/flagger-crd.yaml`) is accepted, so a Flagger
manifest loads as it is; anything else is an error as for every kind (`extra="forbid"`). The fields
that mean nothing to a mesh that routes and measures itself (ingress, autoscaler and gateway refs,
Istio-only service options, alert providers, `metricsServer`) are kept loosely typed here and
warned about as ignored by `validate_canary`. The controller (`runtime/canary`) reads the rest.

smimesh's additions live in annotations, so the manifest stays valid against Flagger's CRD:
`smimesh.io/min-requests` (requests an interval needs before its metrics count),
`smimesh.io/on-no-data` (hold | fail | pass when it has fewer; default hold) and
`smimesh.io/naming` (primary: Flagger's `-primary` clone, the default; revision: the Workload keeps
its name and runs the promoted revision, the canary runs as `<target>-canary`, Services select by
the `smimesh.io/revision` label).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

VERSION = "flagger.app/v1beta1"
MIN_REQUESTS_ANNOTATION = "smimesh.io/min-requests"
ON_NO_DATA_ANNOTATION = "smimesh.io/on-no-data"
NAMING_ANNOTATION = "smimesh.io/naming"
NO_DATA_POLICIES = ("hold", "fail", "pass")
NAMING_SCHEMES = ("primary", "revision")
DEFAULT_MIN_REQUESTS = 1

Number = int | float
Count = Annotated[int, Field(ge=0)]
Loose = dict[str, Any]  # accepted as Flagger's schema allows; warned about where it is ignored


class CrossRef(SmiModel):
    api_version: str = Field(alias="apiVersion")
    kind: str
    name: str


class ScalerRef(CrossRef):
    primary_scaler_queries: dict[str, str] | None = Field(default=None, alias="primaryScalerQueries")
    primary_scaler_replicas: Loose | None = Field(default=None, alias="primaryScalerReplicas")


class UpstreamRef(CrossRef):
    namespace: str | None = None


class ObjectMetadata(SmiModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class CanaryService(SmiModel):
    name: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)]
    port_name: str | None = Field(default=None, alias="portName")
    app_protocol: str | None = Field(default=None, alias="appProtocol")
    target_port: int | str | None = Field(default=None, alias="targetPort")
    port_discovery: bool | None = Field(default=None, alias="portDiscovery")
    apex: ObjectMetadata | None = None
    primary: ObjectMetadata | None = None
    canary: ObjectMetadata | None = None
    # Mesh-irrelevant (Istio / Gateway API / Knative options): accepted, warned, ignored.
    traffic_distribution: str | None = Field(default=None, alias="trafficDistribution")
    headless: bool | None = None
    timeout: str | None = None
    backend_timeout: str | None = Field(default=None, alias="backendTimeout")
    mesh_name: str | None = Field(default=None, alias="meshName")
    backends: list[Any] | None = None
    hosts: list[Any] | None = None
    delegation: bool | None = None
    match: list[Any] | None = None
    retries: Loose | None = None
    rewrite: Loose | None = None
    mirror: list[Any] | None = None
    headers: Loose | None = None
    gateways: list[Any] | None = None
    gateway_refs: list[Any] | None = Field(default=None, alias="gatewayRefs")
    cors_policy: Loose | None = Field(default=None, alias="corsPolicy")
    traffic_policy: Loose | None = Field(default=None, alias="trafficPolicy")
    unmanaged_metadata: Loose | None = Field(default=None, alias="unmanagedMetadata")


IGNORED_SERVICE_FIELDS = (
    "trafficDistribution",
    "headless",
    "timeout",
    "backendTimeout",
    "meshName",
    "backends",
    "hosts",
    "delegation",
    "match",
    "retries",
    "rewrite",
    "mirror",
    "headers",
    "gateways",
    "gatewayRefs",
    "corsPolicy",
    "trafficPolicy",
    "unmanagedMetadata",
)


class StringMatch(SmiModel):
    exact: str | None = None
    prefix: str | None = None
    suffix: str | None = None
    regex: str | None = None


class RequestMatch(SmiModel):
    """One A/B condition (Istio's HTTPMatchRequest as Flagger's CRD has it)."""

    headers: dict[str, StringMatch] = Field(default_factory=dict)
    query_params: dict[str, StringMatch] | None = Field(default=None, alias="queryParams")
    source_labels: dict[str, str] | None = Field(default=None, alias="sourceLabels")


class ThresholdRange(SmiModel):
    min: Number | None = None
    max: Number | None = None


class TemplateRef(SmiModel):
    name: str
    namespace: str | None = None


class CanaryMetric(SmiModel):
    name: str
    interval: str | None = None
    threshold: Number | None = None  # Flagger's legacy form of thresholdRange.min / max
    threshold_range: ThresholdRange | None = Field(default=None, alias="thresholdRange")
    query: str | None = None
    template_ref: TemplateRef | None = Field(default=None, alias="templateRef")
    template_variables: dict[str, str] | None = Field(default=None, alias="templateVariables")


class ProviderRef(SmiModel):
    name: str
    namespace: str | None = None


class CanaryAlert(SmiModel):
    name: str
    severity: Literal["", "info", "warn", "error"] | None = None
    provider_ref: ProviderRef = Field(alias="providerRef")


HOOK_TYPES = (
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
)
HookType = Literal[
    "",
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-promotion",
    "post-rollout",
    "event",
    "rollback",
    "confirm-traffic-increase",
]


class Webhook(SmiModel):
    name: str
    type: HookType = ""  # Flagger: empty means `rollout`
    url: str
    timeout: str | None = None
    retries: Count | None = None
    mute_alert: bool | None = Field(default=None, alias="muteAlert")
    disable_tls: bool | None = Field(default=None, alias="disableTLS")
    metadata: dict[str, str] | None = None

    @property
    def kind(self) -> str:
        return self.type or "rollout"


class SessionAffinity(SmiModel):
    cookie_name: str = Field(alias="cookieName")
    primary_cookie_name: str | None = Field(default=None, alias="primaryCookieName")
    domain: str | None = None
    http_only: bool | None = Field(default=None, alias="httpOnly")
    max_age: Count | None = Field(default=None, alias="maxAge")
    partitioned: bool | None = None
    path: str | None = None
    same_site: Literal["Strict", "Lax", "None"] | None = Field(default=None, alias="sameSite")
    secure: bool | None = None


class Analysis(SmiModel):
    interval: str | None = None
    iterations: Count | None = None
    threshold: Count | None = None
    max_weight: Count | None = Field(default=None, alias="maxWeight")
    step_weight: Count | None = Field(default=None, alias="stepWeight")
    step_weights: list[Count] | None = Field(default=None, alias="stepWeights")
    step_weight_promotion: Count | None = Field(default=None, alias="stepWeightPromotion")
    mirror: bool | None = None
    mirror_weight: Count | None = Field(default=None, alias="mirrorWeight")
    primary_ready_threshold: Count | None = Field(default=None, alias="primaryReadyThreshold")
    canary_ready_threshold: Count | None = Field(default=None, alias="canaryReadyThreshold")
    match: list[RequestMatch] | None = None
    metrics: list[CanaryMetric] = Field(default_factory=list)
    alerts: list[CanaryAlert] | None = None
    webhooks: list[Webhook] = Field(default_factory=list)
    session_affinity: SessionAffinity | None = Field(default=None, alias="sessionAffinity")


class CanarySpec(SmiModel):
    provider: str | None = None
    metrics_server: str | None = Field(default=None, alias="metricsServer")
    progress_deadline_seconds: Count | None = Field(default=None, alias="progressDeadlineSeconds")
    target_ref: CrossRef = Field(alias="targetRef")
    autoscaler_ref: ScalerRef | None = Field(default=None, alias="autoscalerRef")
    ingress_ref: CrossRef | None = Field(default=None, alias="ingressRef")
    route_ref: CrossRef | None = Field(default=None, alias="routeRef")
    upstream_ref: UpstreamRef | None = Field(default=None, alias="upstreamRef")
    service: CanaryService
    skip_analysis: bool = Field(default=False, alias="skipAnalysis")
    revert_on_deletion: bool = Field(default=False, alias="revertOnDeletion")
    suspend: bool = False
    analysis: Analysis


IGNORED_SPEC_FIELDS = ("metricsServer", "autoscalerRef", "ingressRef", "routeRef", "upstreamRef")


class Canary(Resource):
    API_VERSION: ClassVar[str] = VERSION
    KIND: ClassVar[str] = "Canary"
    api_version: Literal["flagger.app/v1beta1"] = Field(default="flagger.app/v1beta1", alias="apiVersion")
    kind: Literal["Canary"] = "Canary"
    spec: CanarySpec
    status: Loose | None = None  # pasted `kubectl get -o yaml` output: the controller owns status

    @property
    def min_requests(self) -> int:
        raw = self.metadata.annotations.get(MIN_REQUESTS_ANNOTATION, "")
        return int(raw) if raw.isdigit() else DEFAULT_MIN_REQUESTS

    @property
    def on_no_data(self) -> str:
        raw = self.metadata.annotations.get(ON_NO_DATA_ANNOTATION, "hold")
        return raw if raw in NO_DATA_POLICIES else "hold"

    @property
    def service_name(self) -> str:
        return self.spec.service.name or self.spec.target_ref.name


class MetricProvider(SmiModel):
    type: Literal[
        "prometheus",
        "influxdb",
        "datadog",
        "externalmetrics",
        "stackdriver",
        "cloudwatch",
        "newrelic",
        "graphite",
        "dynatrace",
        "keptn",
        "splunk",
    ]
    address: str | None = None
    headers: dict[str, Any] | None = None
    secret_ref: Loose | None = Field(default=None, alias="secretRef")
    region: str | None = None
    insecure_skip_verify: bool | None = Field(default=None, alias="insecureSkipVerify")


class MetricTemplateSpec(SmiModel):
    provider: MetricProvider
    query: str


class MetricTemplate(Resource):
    """Flagger's MetricTemplate: a Prometheus query a Canary metric names by `templateRef`, with
    `{{ namespace }}`, `{{ target }}`, `{{ interval }}` and `{{ variables.NAME }}` filled in."""

    API_VERSION: ClassVar[str] = VERSION
    KIND: ClassVar[str] = "MetricTemplate"
    api_version: Literal["flagger.app/v1beta1"] = Field(default="flagger.app/v1beta1", alias="apiVersion")
    kind: Literal["MetricTemplate"] = "MetricTemplate"
    spec: MetricTemplateSpec
    status: Loose | None = None
