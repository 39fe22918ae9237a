"""SM6xxx: what the mesh model drops or reinterprets while building, and why.

Registered at import time (`smimesh explain-code SM6xxx` prints the explanation). `build.py`
creates these diagnostics through `diag()`, which also fills in the severity.
"""

from __future__ import annotations

from smimesh.diagnostics import Diagnostic, ObjectRef, Severity, lookup, register

TARGET_PORT_UNRESOLVED = register(
    "SM6001",
    "Service targetPort not found on a selected workload",
    Severity.WARNING,
    """A Service port names its targetPort, but a Workload the Service selects has no port of that name,
    so that workload's instances are not endpoints of this port. Name the Workload port like the
    targetPort, or use a port number.""",
).code
SPLIT_ROOT_MISSING = register(
    "SM6002",
    "TrafficSplit root Service does not exist",
    Severity.WARNING,
    """A TrafficSplit's spec.service must name a Service in the split's namespace: clients address the
    root by its name. Until that Service exists the split does nothing.""",
).code
SPLIT_BACKEND_MISSING = register(
    "SM6003",
    "TrafficSplit backend Service does not exist",
    Severity.WARNING,
    """A backend that does not exist yet receives no traffic; the other backends share the traffic by
    their relative weights. This is the normal state while a canary is being rolled out.""",
).code
SPLIT_BACKEND_LACKS_PORT = register(
    "SM6004",
    "TrafficSplit backend lacks the root's port",
    Severity.WARNING,
    """For each port of the root Service, a backend takes part only if it has a Service port with the
    same port number. This backend is left out for that port.""",
).code
SPLIT_ALL_ZERO = register(
    "SM6005",
    "TrafficSplit sends no traffic (all weights 0)",
    Severity.WARNING,
    """Every backend that exists and has the port has weight 0, so requests to the root on that port are
    answered with 503 and a body saying so. The mesh never falls back to the root Service silently:
    it usually selects every version, including the one being withheld.""",
).code
SPLIT_SELF_BACKEND = register(
    "SM6006",
    "TrafficSplit lists its root as a backend",
    Severity.INFO,
    """A root listed among its own backends stands for the root Service's own endpoints (no recursion).""",
).code
SPLIT_DUPLICATE = register(
    "SM6007",
    "More than one unconditional TrafficSplit for a root",
    Severity.WARNING,
    """Only one TrafficSplit without matches may apply to a root Service; the first by name is used and
    the others are ignored. Merge them, or give the extra ones matches.""",
).code
SPLIT_MATCHES_MISSING = register(
    "SM6008",
    "TrafficSplit matches reference a missing HTTPRouteGroup",
    Severity.WARNING,
    """A match group that does not exist matches nothing. A split whose match groups are all missing
    applies to no request (it does not become an unconditional split).""",
).code
TARGET_NAMESPACE = register(
    "SM6010",
    "TrafficTarget destination in another namespace",
    Severity.ERROR,
    """A TrafficTarget must live in its destination's namespace (only a namespace's owner may open it
    up). This TrafficTarget is ignored.""",
).code
RULE_MISSING = register(
    "SM6011",
    "TrafficTarget rule references a missing route",
    Severity.WARNING,
    """The HTTPRouteGroup, TCPRoute or UDPRoute a rule names does not exist in the TrafficTarget's
    namespace, so the rule allows nothing (fail closed). The target's other rules still apply.""",
).code
RULE_UNKNOWN_MATCH = register(
    "SM6012",
    "TrafficTarget rule selects a match the group does not have",
    Severity.WARNING,
    """A name in rules[].matches is not a match of the HTTPRouteGroup; it selects nothing.""",
).code
SUBJECT_KIND = register(
    "SM6013",
    "TrafficTarget subject is not a ServiceAccount",
    Severity.WARNING,
    """Only ServiceAccount identities exist in released SMI versions; this subject is ignored.""",
).code
DUPLICATE_NODE = register(
    "SM6014",
    "Two workload instances share a node id",
    Severity.ERROR,
    """Every sidecar needs its own node id (<instance>.<namespace>); the later instance is ignored.""",
).code

ROUTE_PARENT_MISSING = register(
    "SM6020",
    "HTTPRoute parent Service or port does not exist",
    Severity.WARNING,
    """An HTTPRoute's parentRef must name a Service of the route's namespace (and, with `port`, one of
    its ports). Until it exists the route routes nothing. A parent port that is not HTTP (a TCP or UDP
    port) is not routed by an HTTPRoute either.""",
).code
ROUTE_BACKEND_MISSING = register(
    "SM6021",
    "HTTPRoute backend Service or port does not exist",
    Severity.WARNING,
    """A backendRef names a Service (or a port of it) that does not exist, so it is left out and the
    other backends of the rule share its requests (Gateway API would answer its share with 500). A rule
    left with no backend, or only backends of weight 0, answers 503.""",
).code
SPLIT_AND_ROUTE = register(
    "SM6022",
    "Service port routed by both a TrafficSplit and an HTTPRoute",
    Severity.WARNING,
    """The same Service port is the root of a TrafficSplit and the parent of a Gateway API HTTPRoute.
    The HTTPRoute wins and the TrafficSplit is ignored for that port: Gateway API is SMI's successor,
    and a team migrating adds the exported HTTPRoutes beside its TrafficSplits, so the new routes take
    over as soon as they exist and deleting the TrafficSplits afterwards changes nothing. Delete the
    TrafficSplit (or the route) to silence this.""",
).code


def diag(
    code: str,
    message: str,
    obj: ObjectRef,
    *,
    path: str = "",
    value: str | None = None,
    expected: str = "",
    hint: str = "",
) -> Diagnostic:
    info = lookup(code)
    severity = info.severity if info else Severity.WARNING
    return Diagnostic(
        code, message, severity, object=obj, path=path, value=value, expected=expected, hint=hint
    )
