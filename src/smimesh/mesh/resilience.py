"""Resilience policy resolved against the mesh: what each caller and each destination sidecar applies.

Owns the frozen values the generators read (`RetrySpec`, `Connections`, `Outlier`, `LocalLimit`,
`ServicePolicy`, `Resilience` for the whole mesh, `ProxyResilience` for one sidecar) and their
resolution from OSM's Retry / UpstreamTrafficSetting and smimesh's ResiliencePolicy:

- `resolve(inputs, services, cluster_domain, diags) -> Resilience` (build_model calls it). A policy
  naming a Service that does not exist is kept aside with an SM68xx warning (it applies once the
  Service appears); of two policies for one Service the first by name wins (warning).
- `proxy_resilience(model, instance, services) -> ProxyResilience | None`: None when no policy
  touches the sidecar, so a mesh without policy yields exactly the views (and config) it always did.

Where each piece applies (as OSM did): retries, timeouts, connection limits and outlier detection
on the caller's routes and clusters; local rate limits on the destination's inbound side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smimesh.diagnostics import Diagnostic, ObjectRef, Severity, register
from smimesh.mesh.model import Identity, Instance, Service, ServiceKey
from smimesh.resources.durations import parse_duration
from smimesh.resources.osm_policy import HttpLocalRateLimit, Retry, TcpLocalRateLimit, UpstreamTrafficSetting
from smimesh.resources.resilience import ResiliencePolicy

if TYPE_CHECKING:
    from smimesh.mesh.model import MeshModel

NO_SERVICE = register(
    "SM6801",
    "Policy names a Service that does not exist",
    Severity.WARNING,
    """A Retry destination, an UpstreamTrafficSetting host or a ResiliencePolicy service names no
    Service of the mesh. Nothing is applied until the Service exists.""",
).code
DUPLICATE_POLICY = register(
    "SM6802",
    "Several policies of one kind for one Service",
    Severity.WARNING,
    """Two UpstreamTrafficSettings (or two ResiliencePolicies, or two Retries for the same source and
    destination) govern the same Service. The first by namespace/name applies; the others are ignored.""",
).code

RESILIENCE_KINDS = (Retry, UpstreamTrafficSetting, ResiliencePolicy)  # what build_model hands `resolve`
UNIT_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
# RFC 9110 §9.2.2: a client may repeat these without changing the outcome.
IDEMPOTENT_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PUT", "TRACE")


@dataclass(frozen=True, slots=True)
class RetrySpec:
    policy: str  # "Retry/ns/name", for explain and stats
    retry_on: str
    num_retries: int
    per_try_timeout_s: float
    backoff_base_s: float


@dataclass(frozen=True, slots=True)
class Connections:
    max_connections: int | None = None
    connect_timeout_s: float | None = None
    max_requests: int | None = None
    max_requests_per_connection: int | None = None
    max_pending_requests: int | None = None
    max_retries: int | None = None


@dataclass(frozen=True, slots=True)
class Outlier:
    consecutive_5xx: int
    interval_s: float
    base_ejection_s: float
    max_ejection_percent: int


@dataclass(frozen=True, slots=True)
class LocalLimit:
    """A token bucket: `tokens` per `unit_s`, `burst` extra; over it `status` (429) with `headers`."""

    tokens: int
    unit_s: float
    burst: int = 0
    status: int = 429
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """Everything set for one destination Service (absent pieces are None / empty)."""

    connections: Connections | None = None
    outlier: Outlier | None = None
    request_timeout_s: float | None = None
    route_timeouts: tuple[tuple[str, float], ...] = ()
    retry_non_idempotent: bool = False
    http_limit: LocalLimit | None = None
    tcp_limit: LocalLimit | None = None
    route_limits: tuple[tuple[str, LocalLimit], ...] = ()

    @property
    def caller_side(self) -> bool:
        return bool(
            self.connections or self.outlier or self.request_timeout_s is not None or self.route_timeouts
        )

    @property
    def limits(self) -> bool:
        return bool(self.http_limit or self.tcp_limit or self.route_limits)


@dataclass(frozen=True)
class Resilience:
    services: Mapping[ServiceKey, ServicePolicy] = field(default_factory=dict)
    retries: Mapping[tuple[Identity, ServiceKey], RetrySpec] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.services or self.retries)


EMPTY = Resilience()


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """What a caller applies to requests for one service: its ServicePolicy and this caller's Retry."""

    service: ServiceKey
    policy: ServicePolicy
    retry: RetrySpec | None


@dataclass(frozen=True, slots=True)
class InboundLimits:
    port_name: str
    policy: ServicePolicy


@dataclass(frozen=True, slots=True)
class ProxyResilience:
    outbound: tuple[OutboundPolicy, ...] = ()
    inbound: tuple[InboundLimits, ...] = ()

    def for_service(self, key: ServiceKey) -> OutboundPolicy | None:
        return next((o for o in self.outbound if o.service == key), None)

    def for_port(self, port_name: str) -> ServicePolicy | None:
        return next((i.policy for i in self.inbound if i.port_name == port_name), None)


# --- resolution -------------------------------------------------------------------------------------
def _warn(code: str, message: str, obj: Any, path: str) -> Diagnostic:
    ref = ObjectRef(obj.KIND, obj.metadata.namespace, obj.metadata.name)
    return Diagnostic(code, message, Severity.WARNING, object=ref, path=path)


def _limit(spec: HttpLocalRateLimit | TcpLocalRateLimit) -> LocalLimit:
    if isinstance(spec, TcpLocalRateLimit):
        return LocalLimit(spec.connections, UNIT_SECONDS[spec.unit], spec.burst or 0)
    headers = tuple((h.name, h.value) for h in spec.response_headers_to_add or ())
    status = spec.response_status_code or 429
    return LocalLimit(spec.requests, UNIT_SECONDS[spec.unit], spec.burst or 0, status, headers)


def _seconds(text: str | None) -> float | None:
    return None if text is None else parse_duration(text)


def _connections(uts: UpstreamTrafficSetting) -> Connections | None:
    settings = uts.spec.connection_settings
    if settings is None:
        return None
    tcp, http = settings.tcp, settings.http
    return Connections(
        tcp.max_connections if tcp else None,
        _seconds(tcp.connect_timeout) if tcp else None,
        http.max_requests if http else None,
        http.max_requests_per_connection if http else None,
        http.max_pending_requests if http else None,
        http.max_retries if http else None,
    )


def _from_uts(uts: UpstreamTrafficSetting) -> ServicePolicy:
    local = uts.spec.rate_limit.local if uts.spec.rate_limit else None
    routes = tuple(
        (r.path or "/", _limit(r.rate_limit.local))
        for r in uts.spec.http_routes or ()
        if r.rate_limit is not None and r.rate_limit.local is not None
    )
    return ServicePolicy(
        connections=_connections(uts),
        http_limit=_limit(local.http) if local and local.http else None,
        tcp_limit=_limit(local.tcp) if local and local.tcp else None,
        route_limits=routes,
    )


def _from_resilience(policy: ResiliencePolicy) -> dict[str, Any]:
    spec, outlier = policy.spec, policy.spec.outlier_detection
    return {
        "request_timeout_s": _seconds(spec.request_timeout),
        "route_timeouts": tuple((r.path, parse_duration(r.request_timeout)) for r in spec.http_routes),
        "retry_non_idempotent": spec.retry_non_idempotent,
        "outlier": Outlier(
            outlier.consecutive_5xx,
            parse_duration(outlier.interval),
            parse_duration(outlier.base_ejection_time),
            outlier.max_ejection_percent,
        )
        if outlier
        else None,
    }


def host_service(host: str, namespace: str, cluster_domain: str) -> ServiceKey | None:
    """The Service an UpstreamTrafficSetting `host` names (`svc[.ns[.svc[.<cluster domain>]]]`)."""
    parts = host.split(".")
    tail = parts[2:]
    if tail and (tail[0] != "svc" or (len(tail) > 1 and ".".join(tail[1:]) != cluster_domain)):
        return None
    return ServiceKey(parts[1] if len(parts) > 1 else namespace, parts[0])


def _service_policies(
    inputs: Any, services: Mapping[ServiceKey, Service], cluster_domain: str, diags: list[Diagnostic]
) -> dict[ServiceKey, ServicePolicy]:
    found: dict[ServiceKey, ServicePolicy] = {}
    claimed: set[tuple[str, ServiceKey]] = set()
    for kind, cls in (("uts", UpstreamTrafficSetting), ("rp", ResiliencePolicy)):
        for obj in inputs.of(cls):
            key = _target(obj, cluster_domain)
            path = "spec.host" if kind == "uts" else "spec.service"
            if key is None or key not in services:
                diags.append(_warn(NO_SERVICE, f"no Service {key or obj.spec} in the mesh", obj, path))
                continue
            if (kind, key) in claimed:
                diags.append(_warn(DUPLICATE_POLICY, f"another {obj.KIND} already governs {key}", obj, path))
                continue
            claimed.add((kind, key))
            base = found.get(key, ServicePolicy())
            update = _from_uts(obj) if kind == "uts" else ServicePolicy(**_from_resilience(obj))
            found[key] = _merge(base, update)
    return found


def _target(obj: Any, cluster_domain: str) -> ServiceKey | None:
    if isinstance(obj, UpstreamTrafficSetting):
        return host_service(obj.spec.host, obj.metadata.namespace, cluster_domain)
    return ServiceKey(obj.metadata.namespace, obj.spec.service)


def _merge(base: ServicePolicy, update: ServicePolicy) -> ServicePolicy:
    """The two kinds set disjoint fields: take every field the update sets."""
    default = ServicePolicy()
    values = {
        name: getattr(update, name)
        if getattr(update, name) != getattr(default, name)
        else getattr(base, name)
        for name in ServicePolicy.__slots__
    }
    return ServicePolicy(**values)


def _retries(
    inputs: Any, services: Mapping[ServiceKey, Service], diags: list[Diagnostic]
) -> dict[tuple[Identity, ServiceKey], RetrySpec]:
    found: dict[tuple[Identity, ServiceKey], RetrySpec] = {}
    for obj in inputs.of(Retry):
        spec, policy = obj.spec, obj.spec.retry_policy
        source = Identity(spec.source.namespace, spec.source.name)
        retry = RetrySpec(
            f"Retry/{obj.metadata.namespace}/{obj.metadata.name}",
            ",".join(part.strip() for part in policy.retry_on.split(",")),
            policy.num_retries,
            parse_duration(policy.per_try_timeout),
            parse_duration(policy.retry_backoff_base_interval),
        )
        for index, dest in enumerate(spec.destinations):
            key, path = ServiceKey(dest.namespace, dest.name), f"spec.destinations[{index}]"
            if key not in services:
                diags.append(_warn(NO_SERVICE, f"no Service {key} in the mesh", obj, path))
            elif (source, key) in found:
                diags.append(
                    _warn(DUPLICATE_POLICY, f"another Retry already governs {source} -> {key}", obj, path)
                )
            else:
                found[(source, key)] = retry
    return found


def resolve(
    inputs: Any, services: Mapping[ServiceKey, Service], cluster_domain: str, diags: list[Diagnostic]
) -> Resilience:
    """The mesh's resilience policy (EMPTY when there is none)."""
    policies = _service_policies(inputs, services, cluster_domain, diags)
    retries = _retries(inputs, services, diags)
    return Resilience(policies, retries) if policies or retries else EMPTY


# --- per sidecar -----------------------------------------------------------------------------------
def _inbound(model: MeshModel, resilience: Resilience, inst: Instance) -> tuple[InboundLimits, ...]:
    names = {p.container_port: p.name for p in inst.inbound}
    found: dict[str, ServicePolicy] = {}
    for key, policy in sorted(resilience.services.items()):
        service = model.services.get(key)
        if not policy.limits or service is None:
            continue
        for port in service.ports:
            for endpoint in port.endpoints:
                if endpoint.node_id == inst.node_id and endpoint.container_port in names:
                    found.setdefault(names[endpoint.container_port], policy)
    return tuple(InboundLimits(name, policy) for name, policy in sorted(found.items()))


def _outbound(
    resilience: Resilience, identity: Identity, services: Iterable[ServiceKey]
) -> tuple[OutboundPolicy, ...]:
    found = []
    for key in sorted(set(services)):
        policy = resilience.services.get(key)
        retry = resilience.retries.get((identity, key))
        if retry is not None or (policy is not None and policy.caller_side):
            found.append(OutboundPolicy(key, policy or ServicePolicy(), retry))
    return tuple(found)


def proxy_resilience(
    model: MeshModel, inst: Instance, services: Iterable[ServiceKey]
) -> ProxyResilience | None:
    """What `inst`'s sidecar applies, for the outbound `services` it sees; None when nothing."""
    if model.resilience is None or not model.resilience:
        return None
    resilience = model.resilience
    found = ProxyResilience(_outbound(resilience, inst.identity, services), _inbound(model, resilience, inst))
    return found if found.outbound or found.inbound else None
