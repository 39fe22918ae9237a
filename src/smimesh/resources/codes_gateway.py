"""Diagnostic codes of the Gateway API HTTPRoute input (SM306x), registered for `smimesh explain-code`."""

from __future__ import annotations

from smimesh.diagnostics import Severity, register

PARENT_NOT_SERVICE = register(
    "SM3060",
    "HTTPRoute parent is not a Service",
    Severity.ERROR,
    """smimesh reads Gateway API routes in their mesh (GAMMA) form: a route attaches to a Service,
    `parentRefs: [{group: "", kind: Service, name: web, port: 80}]` (the group must be written as the
    empty string: the CRD defaults an omitted group to gateway.networking.k8s.io and kind to Gateway).
    Gateways and `sectionName` are not supported: there is no ingress gateway in smimesh.""",
).code
CONSUMER_ROUTE = register(
    "SM3061",
    "Consumer routes are not supported",
    Severity.ERROR,
    """A route in one namespace whose parent is a Service of another namespace is a GAMMA consumer
    route (it changes only what the route's namespace sees). smimesh supports producer routes only:
    put the HTTPRoute in the Service's namespace.""",
).code
BAD_BACKEND = register(
    "SM3062",
    "HTTPRoute backend is not a Service of the route's namespace with a port",
    Severity.ERROR,
    """Each backendRef must be a core Service (`group: ""`, `kind: Service`) in the route's namespace
    (cross-namespace backends need a ReferenceGrant, which smimesh does not read), with `port` (the
    CRD's CEL rule: a Service reference must specify a port).""",
).code
BAD_MATCH = register(
    "SM3063",
    "HTTPRoute match is not valid",
    Severity.ERROR,
    """An Exact or PathPrefix path must be an absolute path without `//`, `/./`, `/../`, `%2f`, `#`
    (the CRD's CEL rules); a RegularExpression must be RE2 (what Envoy evaluates); a header name may
    be matched once per match.""",
).code
HOSTNAMES_IGNORED = register(
    "SM3064",
    "HTTPRoute hostnames are ignored",
    Severity.WARNING,
    """A route attached to a Service applies to the requests for that Service; `hostnames` does not
    narrow it in smimesh. Remove the field, or keep it for another implementation.""",
).code
