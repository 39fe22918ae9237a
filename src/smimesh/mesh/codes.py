"""SM6xxx: what the mesh model drops or reinterprets while building, and why.

Only what the resources alone cannot tell: a problem between objects (a missing split backend, a
rule naming a missing route) has one code, SM4xxx, from `resources.references`, which `validate`,
`up` and the API all run; the model just leaves such a reference out, silently.

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
SPLIT_SELF_BACKEND = register(
    "SM6006",
    "TrafficSplit lists its root as a backend",
    Severity.INFO,
    """A root listed among its own backends stands for the root Service's own endpoints (no recursion).""",
).code
TARGET_NAMESPACE = register(
    "SM6010",
    "TrafficTarget destination in another namespace",
    Severity.ERROR,
    """A TrafficTarget must live in its destination's namespace (only a namespace's owner may open it
    up). This TrafficTarget is ignored.""",
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
