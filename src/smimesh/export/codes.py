"""SM8xxx: what `smimesh export` could not translate exactly, and notes a reviewer should read.

Every code is registered with the paragraph `smimesh explain-code` prints. Severity WARNING marks a
*loss* (the target's objects do not mean exactly what the SMI objects meant; `--strict` makes it an
error), INFO a *note* (the translation is exact, but the reviewer should know something). Losses
always narrow, never widen: what cannot be translated exactly is left out (so less traffic is
allowed or split), and the report says so.
"""

from __future__ import annotations

from smimesh.diagnostics import Diagnostic, ObjectRef, Severity, register, shorten

LOSS, NOTE = Severity.WARNING, Severity.INFO


def _code(code: str, title: str, severity: Severity, explanation: str) -> str:
    register(code, title, severity, explanation)
    return code


# --- SM80xx: whole objects ------------------------------------------------------------------------
NO_COUNTERPART = _code(
    "SM8001",
    "The target has nothing for this kind",
    LOSS,
    """The target mesh has no object that means what this SMI object means (for example a UDPRoute
    or a TCP split for Consul, or TrafficMetrics anywhere: metrics are served, not configured). The
    object was not exported; the report names it so a reviewer can decide what to do by hand.""",
)
NO_GATEWAY_ACCESS = _code(
    "SM8002",
    "Access control has no Gateway API standard",
    LOSS,
    """Gateway API (GAMMA) routes traffic but has no standard access-control object yet, so a
    TrafficTarget cannot be exported to `--to gateway-api` alone. Add `--policy istio`
    (AuthorizationPolicy) or `--policy linkerd` (Server, HTTPRoute, AuthorizationPolicy,
    MeshTLSAuthentication): both meshes read GAMMA HTTPRoutes, and the policy comes out beside them.""",
)
UNUSED = _code(
    "SM8003",
    "Object used by nothing exported",
    NOTE,
    """An HTTPRouteGroup, TCPRoute, UDPRoute, Service or Workload is exported only through the
    TrafficSplits and TrafficTargets that use it; this one is used by none, so nothing was produced
    for it. That is expected for Services and Workloads.""",
)
DEFAULT_DENY = _code(
    "SM8004",
    "Default deny added",
    NOTE,
    """SMI denies every request no TrafficTarget allows. The target allows by default, so the export
    adds the object that denies by default (an empty Istio AuthorizationPolicy per namespace, a
    Consul `*` deny intention) or says which setting gives it (Linkerd's
    `config.linkerd.io/default-inbound-policy: deny`). Apply it with the other objects, or every
    workload without a policy stays open.""",
)
# --- SM81xx: traffic splits and routes --------------------------------------------------------------
SPLIT_UNRESOLVED = _code(
    "SM8101",
    "Split or backend left out",
    LOSS,
    """A TrafficSplit's root Service, a backend Service or the backend's port with the root's port
    number is missing from the input (or its HTTPRouteGroups are), so the mesh itself leaves it out
    (see `smimesh validate`); the export does the same, since a target route needs the backend's
    port, which SMI does not carry and is taken from the Service.""",
)
PRECEDENCE = _code(
    "SM8102",
    "Route order differs: the target orders by specificity",
    LOSS,
    """SMI evaluates conditional TrafficSplits in creation order (the first match wins); Gateway API
    orders the rules of every route attached to a Service by specificity (exact path, then the
    longest prefix, then method, then the number of header matches) and only then by age. Here a
    later split's match is more specific than an earlier one's and both can match the same request,
    so that request would go to the later split's backends. Make the earlier match at least as
    specific, or accept the change.""",
)
REGEX_EXTENDED = _code(
    "SM8103",
    "Regular-expression match (implementation-specific)",
    NOTE,
    """The SMI regex is not an exact value or a string prefix, so it was exported as a
    `RegularExpression` match (the regex the mesh evaluates, as a whole-value match). Gateway API
    marks regex matches as Extended support with an implementation-specific dialect: check that the
    target mesh supports them (Envoy-based meshes use RE2, as smimesh does).""",
)
NOT_HTTP = _code(
    "SM8104",
    "Split of a non-HTTP port not exported",
    LOSS,
    """The root port is TCP (or gRPC for a target without a gRPC route here): Gateway API's TCPRoute
    is experimental and has no weights in the mesh profile, so only HTTP ports of a split are
    exported. The TCP port keeps routing to the root's own endpoints on the target.""",
)
WEIGHTS_ROUNDED = _code(
    "SM8105",
    "Weights rounded to percentages",
    LOSS,
    """The target wants weights as percentages summing to 100 (Consul: steps of 0.01; Istio: whole
    numbers), and the SMI weights' shares could not be written exactly, so they were rounded (largest
    remainder; the report shows both). The traffic shares differ by less than one step.""",
)
ALL_ZERO = _code(
    "SM8106",
    "Split with every weight 0",
    NOTE,
    """Every backend of this split has weight 0. smimesh answers such requests with 503; Gateway API
    answers 500 for a rule whose backends all weigh 0. The status code differs; no request reaches
    a backend in either case.""",
)
CONDITIONAL_WEIGHTS = _code(
    "SM8107",
    "Weighted conditional split cannot be routed",
    LOSS,
    """Consul's ServiceRouter sends a matched request to one service; weights belong to a
    ServiceSplitter of that service, so a conditional TrafficSplit with more than one live backend
    has no exact counterpart. The route was left out; the matched requests follow the unconditional
    split (or the root) instead.""",
)
CATCH_ALL = _code(
    "SM8108",
    "Catch-all rule added",
    NOTE,
    """A Gateway API route attached to a Service rejects (404) a request no rule matches, while SMI
    sends it to the root's own endpoints (or the unconditional split). The export adds a last rule
    without matches that does the same, so unmatched requests keep their destination.""",
)
# --- SM82xx: access control --------------------------------------------------------------------------
NO_SELECTOR = _code(
    "SM8201",
    "Service account cannot be turned into pod labels",
    LOSS,
    """Istio and Linkerd select workloads by pod labels, SMI by service account. The labels are
    taken from the Workloads, Deployments, StatefulSets, DaemonSets, ReplicaSets or Pods in the
    input; here none runs as the account, or the labels its pods share also select pods of another
    account (which would widen access). The policy was not exported; give the pod manifests, or give
    the account's pods a label of their own.""",
)
PATTERN_REFUSED = _code(
    "SM8202",
    "Match cannot be expressed exactly",
    LOSS,
    """The target's access-control matches have no regular expressions (Istio authorization: exact,
    prefix `x*`, suffix `*x` and presence `*` only), and this SMI regex is none of those. Widening it
    would allow requests SMI denies, so the match was left out: requests it allowed are denied on
    the target. Rewrite the regex as a literal, a literal followed by `.*`, or an alternation of
    those.""",
)
NO_SERVICE = _code(
    "SM8203",
    "Service account cannot be turned into a service name",
    LOSS,
    """Consul intentions name services, not accounts. A source or destination account maps to the
    services whose pods all run as that account; here there is none, or the only services also
    select pods of other accounts (naming them would widen access). That side of the intention was
    left out.""",
)
PORTS_REFUSED = _code(
    "SM8204",
    "Port rule cannot be expressed exactly",
    LOSS,
    """A TCPRoute, UDPRoute or legacy `destination.port` restricts ports in a way the target cannot
    say without widening (Consul intentions have no ports; Istio and Linkerd authorize UDP not at
    all; a TCPRoute covering every port needs the destination's TCP ports, which the input does not
    give). The rule was left out (narrower, never wider).""",
)
ONE_ROUTE = _code(
    "SM8205",
    "Linkerd authorizes a request by one route",
    LOSS,
    """Linkerd picks the one policy HTTPRoute of a Server that matches a request best (Gateway API
    precedence) and applies only that route's AuthorizationPolicies, while SMI allows a request that
    any TrafficTarget allows. The export gives every route the targets whose matches are identical or
    unconditional, but here two targets' different matches can match the same request: that request
    is allowed only for the sources of the more specific one. Make the matches disjoint, or identical.""",
)
# --- SM83xx: output checks ---------------------------------------------------------------------------
SCHEMA = _code(
    "SM8301",
    "Exported object fails the target's schema",
    Severity.ERROR,
    """An exported object does not validate against the target's published CRD schema (`--schemas`)
    or one of the CEL rules the schema states (ported to Python). This is a bug in smimesh; the
    message names the object, the field and the rule.""",
)


def finding(
    code: str, message: str, obj: ObjectRef, *, path: str = "", value: object = None, hint: str = ""
) -> Diagnostic:
    """A report entry with the severity its code was registered with."""
    severity = NOTE if code in _NOTES else (Severity.ERROR if code == SCHEMA else LOSS)
    shown = None if value is None else shorten(value)
    return Diagnostic(code, message, severity, object=obj, path=path, value=shown, hint=hint)


_NOTES = {UNUSED, DEFAULT_DENY, REGEX_EXTENDED, ALL_ZERO, CATCH_ALL}
