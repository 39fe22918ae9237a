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
MISSING_PARENT = register(
    "SM4060",
    "HTTPRoute parent Service or port does not exist",
    Severity.WARNING,
    """The Service an HTTPRoute attaches to (or the port it names) is not in the route's namespace, so the
    route routes nothing until it exists. Check the name and the port, or create the Service.""",
).code
MISSING_ROUTE_BACKEND = register(
    "SM4061",
    "HTTPRoute backend Service or port does not exist",
    Severity.WARNING,
    """A backendRef names a Service of the route's namespace (or a port of it) that does not exist. The
    mesh leaves that backend out and the rule's other backends take its requests (a rule with none
    left answers 503).""",
).code
SPLIT_AND_ROUTE = register(
    "SM4062",
    "Service port routed by both a TrafficSplit and an HTTPRoute",
    Severity.WARNING,
    """A Service port is the root of a TrafficSplit and the parent of a Gateway API HTTPRoute. The
    HTTPRoute wins and the TrafficSplit is ignored for that port (docs/migration.md: the migration adds
    the exported routes beside the splits, so they take over as soon as they exist). Delete the
    TrafficSplit once the route carries its traffic.""",
).code
