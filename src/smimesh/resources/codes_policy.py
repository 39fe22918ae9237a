"""Diagnostic codes of the resilience and edge policy kinds (OSM's Retry, UpstreamTrafficSetting and
smimesh's ResiliencePolicy): SM38xx, one object. Registered once here, like `codes.py`."""

from __future__ import annotations

from smimesh.resources.codes import E, W, _code

UNSUPPORTED_FIELD = _code(
    "SM3801",
    "Field not supported by smimesh",
    E,
    """The field is part of the published OSM CRD, but smimesh
    does not implement what it asks for. Rather than ignore it (and leave the mesh doing something else
    than the manifest says) the object is refused. `rateLimit.global` needs an external rate-limit
    service, which smimesh does not run: use `rateLimit.local` (a limit per destination sidecar).""",
)
BAD_DURATION = _code(
    "SM3802",
    "Invalid duration",
    E,
    """Durations are written the Go way: a number and a unit, e.g.
    500ms, 2s, 1m30s (units ns, us, ms, s, m, h), or 0.""",
)
BAD_SUBJECT_KIND = _code(
    "SM3803",
    "Wrong kind of source or destination",
    E,
    """A Retry's source is a ServiceAccount and its destinations are
    Services (as in OSM); another kind names nothing smimesh can apply the policy to.""",
)
BAD_RETRY_ON = _code(
    "SM3804",
    "Unknown retry condition",
    E,
    """`retryOn` is a comma-separated list of Envoy retry conditions
    (x-envoy-retry-on): 5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream,
    retriable-status-codes, retriable-headers, envoy-ratelimited.""",
)
FOREIGN_POLICY = _code(
    "SM3805",
    "Policy in another namespace than what it governs",
    E,
    """A Retry lives in its source ServiceAccount's namespace, an
    UpstreamTrafficSetting and a ResiliencePolicy in their Service's namespace (as OSM requires):
    whoever writes policy in a namespace governs its own workloads, and no further.""",
)
BAD_HOST = _code(
    "SM3806",
    "UpstreamTrafficSetting host is not a Service host name",
    E,
    """`host` names the upstream Service as `svc`, `svc.ns`,
    `svc.ns.svc` or `svc.ns.svc.<cluster domain>` (OSM's examples use the last form).""",
)
BAD_NUMBER = _code(
    "SM3807",
    "Negative count",
    E,
    """Retry counts and rate-limit bursts are zero or more.""",
)
BAD_INGRESS = _code(
    "SM3808",
    "Ingress path or backend smimesh cannot route",
    E,
    """An Ingress path of type Exact or Prefix starts with '/', and its backend is a
    Service port (`service.name` with `port.number` or `port.name`).""",
)
BAD_INGRESS_SOURCE = _code(
    "SM3809",
    "Invalid IngressBackend source",
    E,
    """An IngressBackend source is a `Service` (the ingress's: `smimesh-ingress` in
    `smimesh-system` for `smimesh up --ingress`), an `AuthenticatedPrincipal` (a SPIFFE id, or
    `SA.NAMESPACE[.svc].cluster.local` as OSM writes it) or an `IPRange` (a CIDR such as 127.0.0.1/32).""",
)
BAD_EGRESS = _code(
    "SM3810",
    "Egress destination smimesh cannot enforce as written",
    E,
    """An Egress names its destinations by `hosts` (DNS names, `*.suffix`
    wildcards or IPv4 addresses: matched against the Host of an http request and the `CONNECT host:port`
    of an https one) and by `ipAddresses` (CIDRs, e.g. 203.0.113.0/24: matched against the
    `CONNECT ip:port` of a tcp one, and of an https port without hosts; in pods, the destination
    address). An IPv6 range is matched on the text `[address]` a client writes (compressed,
    lowercase), so it must be whole 16-bit groups with no zero group (2001:db8:e::/48) or one address
    (/128). A port's protocol is http, https,
    tcp or tcp-server-first. `ipAddresses` on an Egress whose ports are all http (or https with hosts)
    would narrow nothing, so it is refused rather than ignored.""",
)
EGRESS_NO_EFFECT = _code(
    "SM3811",
    "Egress field without effect on its ports",
    W,
    """As in OSM, `hosts` apply to http and https ports and HTTPRouteGroup
    `matches` to http ports only: on an Egress whose ports are all tcp they narrow nothing, and the
    Egress allows its ports on any address (or on its `ipAddresses`).""",
)
