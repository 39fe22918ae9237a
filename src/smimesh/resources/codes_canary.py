"""Diagnostic codes of the Flagger Canary kind: SM39xx (one object) and SM49xx (references).
Registered once here, like `codes.py`; the runtime's canary codes (SM79xx) live with the controller."""

from __future__ import annotations

from smimesh.resources.codes import E, W, _code

IGNORED_FIELD = _code(
    "SM3901",
    "Canary field ignored by smimesh",
    W,
    """Flagger's CRD defines the field for an ingress
    controller, an autoscaler, a gateway or another mesh's router. smimesh routes the canary with its
    own TrafficSplit and measures it with its own metrics, so the field changes nothing; it is
    accepted (the manifest stays valid for Flagger) and ignored.""",
)
BAD_WEIGHTS = _code(
    "SM3902",
    "Impossible canary weights",
    E,
    """Weights are percentages of the traffic: `maxWeight`
    is at most 100, `stepWeight` at most `maxWeight` (one step must not overshoot the maximum), and
    `stepWeights` rise step by step up to at most `maxWeight` (100 without it).""",
)
BAD_ANALYSIS = _code(
    "SM3903",
    "Incomplete canary analysis",
    E,
    """Flagger's CRD requires `interval` and `threshold`
    and one way of advancing: `stepWeight` or `stepWeights` (weighted canary) or `iterations` (A/B
    testing with `match`, or a blue/green run).""",
)
BAD_METRIC = _code(
    "SM3904",
    "Canary metric smimesh cannot evaluate",
    E,
    """The built-in metrics are `request-success-rate`
    (percent of non-5xx responses, checked against thresholdRange.min) and `request-duration` (p99 in
    milliseconds, checked against thresholdRange.max), both read from the mesh's own TrafficMetrics.
    Any other metric names a MetricTemplate (`templateRef`) whose provider is Prometheus (its
    `address`, else the mesh's `--prometheus-url`); inline `query` and other providers are refused.""",
)
BAD_ANNOTATION = _code(
    "SM3905",
    "Invalid smimesh canary annotation",
    E,
    """smimesh's additions to the Canary live in annotations:
    `smimesh.io/min-requests` (a whole number of requests an interval needs before its metrics are
    judged), `smimesh.io/on-no-data` (hold, fail or pass: what an interval with fewer requests does;
    default hold) and `smimesh.io/naming` (primary or revision).""",
)
NO_MATCHES_IN_VERSION = _code(
    "SM3906",
    "A/B match on a mesh whose TrafficSplit has no matches",
    E,
    """`analysis.match` routes matching requests to the
    canary through a TrafficSplit with `matches`, which exist from split.smi-spec.io/v1alpha3 on. The
    provider named (linkerd, osm, smi:v1alpha1, smi:v1alpha2) writes an older TrafficSplit, which
    can only shift weights.""",
)
BAD_TARGET_KIND = _code(
    "SM3907",
    "Canary target of a kind smimesh cannot run",
    E,
    """Locally a Canary's targetRef names a Workload
    (smimesh.io/v1alpha1); a Deployment of the same name is read as that Workload, so Flagger's
    examples run unchanged. DaemonSets and Services are not canary targets in smimesh.""",
)
BAD_WEBHOOK = _code(
    "SM3908",
    "Canary webhook smimesh cannot call",
    E,
    """A webhook URL is an http:// or https:// URL, called with
    Flagger's JSON payload (name, namespace, phase, checksum, metadata).""",
)
MISSING_TARGET = _code(
    "SM4901",
    "Canary target does not exist",
    E,
    """The Workload named by targetRef is not defined in the
    Canary's namespace. The controller waits for it (status Initializing) and starts once it
    appears.""",
)
MISSING_TEMPLATE = _code(
    "SM4902",
    "Canary metric template does not exist",
    E,
    """A metric's templateRef names a MetricTemplate (in templateRef.namespace, default the Canary's)
    that is not defined. Until it is, the check has no data (smimesh.io/on-no-data decides).""",
)
