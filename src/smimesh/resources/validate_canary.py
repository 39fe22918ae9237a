"""Per-object checks (SM39xx) of a Flagger Canary that its schema cannot express.

Owns: the warnings for fields a mesh ignores, weights (maxWeight <= 100, stepWeight <= maxWeight,
rising stepWeights), the analysis form Flagger's CRD requires (`oneOf`), metric names and ranges,
durations, webhook URLs, smimesh's annotations, the target kind, and A/B `match` with a provider
whose TrafficSplit version has no `matches`. Reads the document as written (paths and lines).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.resources import canary as cn
from smimesh.resources import codes_canary as cc
from smimesh.resources.checker import Checker, Path
from smimesh.resources.validate_policy import duration

BUILTIN_METRICS = {"request-success-rate": "min", "request-duration": "max"}
# Flagger's providers that write a TrafficSplit without `matches` (ANCHORS B4)
NO_MATCH_PROVIDERS = {
    "linkerd": "v1alpha1",
    "smi:v1alpha1": "v1alpha1",
    "osm": "v1alpha2",
    "smi:v1alpha2": "v1alpha2",
}
TARGET_KINDS = {"Workload": "smimesh.io/v1alpha1", "Deployment": "apps/v1"}
_ANALYSIS: Path = ("spec", "analysis")


def validate_canary(c: Checker) -> Iterator[Diagnostic]:
    yield from _ignored(c)
    yield from _target(c)
    yield from _form(c)
    yield from _weights(c)
    yield from _metrics(c)
    yield from _webhooks(c)
    yield from _annotations(c)
    yield from _provider(c)
    yield from duration(c, (*_ANALYSIS, "interval"))


def _ignored(c: Checker) -> Iterator[Diagnostic]:
    fields: list[Path] = [("spec", name) for name in cn.IGNORED_SPEC_FIELDS]
    fields += [("spec", "service", name) for name in cn.IGNORED_SERVICE_FIELDS]
    fields += [(*_ANALYSIS, name) for name in ("alerts", "primaryReadyThreshold", "canaryReadyThreshold")]
    for path in fields:
        value = c.get(path)
        if value is not None:
            yield c.report(
                cc.IGNORED_FIELD,
                f"`{path[-1]}` is ignored: smimesh routes and measures the canary itself",
                path,
                value,
                "only the fields a mesh canary uses",
                "keep it if Flagger also reads this manifest; smimesh does not need it",
            )


def _target(c: Checker) -> Iterator[Diagnostic]:
    path: Path = ("spec", "targetRef", "kind")
    kind = c.get(path)
    if isinstance(kind, str) and kind not in TARGET_KINDS:
        yield c.report(
            cc.BAD_TARGET_KIND,
            f"a {kind} cannot be a canary target in smimesh",
            path,
            kind,
            "Workload (smimesh.io/v1alpha1), or Deployment (read as the Workload of that name)",
            "point targetRef at the Workload that runs the service",
        )


def _form(c: Checker) -> Iterator[Diagnostic]:
    analysis = c.get(_ANALYSIS)
    if not isinstance(analysis, dict):
        return
    missing = [name for name in ("interval", "threshold") if analysis.get(name) is None]
    if not any(analysis.get(name) is not None for name in ("iterations", "stepWeight", "stepWeights")):
        missing.append("stepWeight, stepWeights or iterations")
    if missing:
        yield c.report(
            cc.BAD_ANALYSIS,
            "the analysis lacks " + " and ".join(missing),
            _ANALYSIS,
            None,
            "interval, threshold, and stepWeight | stepWeights | iterations",
            "for example interval: 1m, threshold: 5, maxWeight: 50, stepWeight: 10",
        )


def _weights(c: Checker) -> Iterator[Diagnostic]:
    max_weight = c.get((*_ANALYSIS, "maxWeight"))
    ceiling = max_weight if isinstance(max_weight, int) and max_weight <= 100 else 100
    if isinstance(max_weight, int) and max_weight > 100:
        path: Path = (*_ANALYSIS, "maxWeight")
        yield _weight(c, f"maxWeight {max_weight} is above 100 %", path, max_weight, 100)
    step = c.get((*_ANALYSIS, "stepWeight"))
    if isinstance(step, int) and step > ceiling:
        message = f"stepWeight {step} is above the maximum weight {ceiling}"
        yield _weight(c, message, (*_ANALYSIS, "stepWeight"), step, ceiling)
    previous = 0
    for path, value in c.items((*_ANALYSIS, "stepWeights")):
        if isinstance(value, int) and (value <= previous or value > ceiling):
            why = f"is above {ceiling}" if value > ceiling else f"does not rise above {previous}"
            yield _weight(c, f"step weight {value} {why}", path, value, ceiling)
        previous = value if isinstance(value, int) else previous


def _weight(c: Checker, message: str, path: Path, value: int, ceiling: int) -> Diagnostic:
    return c.report(
        cc.BAD_WEIGHTS,
        message,
        path,
        value,
        f"a percentage up to {ceiling}, rising step by step",
        "e.g. maxWeight: 50 with stepWeight: 10, or stepWeights: [5, 10, 20, 50]",
    )


def _metrics(c: Checker) -> Iterator[Diagnostic]:
    for path, metric in c.items((*_ANALYSIS, "metrics")):
        if not isinstance(metric, dict):
            continue
        yield from duration(c, (*path, "interval"))
        name = metric.get("name")
        if name in BUILTIN_METRICS or metric.get("templateRef"):
            continue  # a templateRef is checked against the MetricTemplates (references.py)
        where = "query" if metric.get("query") else "name"
        yield c.report(
            cc.BAD_METRIC,
            f"metric {name!r} is not built in"
            + (
                "; an inline query needs Flagger's metricsServer: use a MetricTemplate"
                if where != "name"
                else ""
            ),
            (*path, where),
            metric.get(where),
            "request-success-rate, request-duration, or a templateRef to a Prometheus MetricTemplate",
            _did_you_mean_metric(name),
        )


def validate_metric_template(c: Checker) -> Iterator[Diagnostic]:
    kind = c.get(("spec", "provider", "type"))
    if isinstance(kind, str) and kind != "prometheus":
        yield c.report(
            cc.BAD_METRIC,
            f"metric provider {kind!r} is not supported: smimesh queries Prometheus only",
            ("spec", "provider", "type"),
            kind,
            "prometheus",
            "use the built-in metrics, or a Prometheus query",
        )


def _did_you_mean_metric(name: Any) -> str:
    text = str(name)
    if "success" in text or "error" in text:
        return "use request-success-rate"
    if "latency" in text or "duration" in text:
        return "use request-duration"
    return "use the built-in request-success-rate and request-duration"


def _webhooks(c: Checker) -> Iterator[Diagnostic]:
    for path, hook in c.items((*_ANALYSIS, "webhooks")):
        if not isinstance(hook, dict):
            continue
        yield from duration(c, (*path, "timeout"))
        url = hook.get("url")
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            yield c.report(
                cc.BAD_WEBHOOK,
                f"webhook URL {url!r} is not http(s)",
                (*path, "url"),
                url,
                "an http:// or https:// URL",
                "e.g. http://127.0.0.1:8080/gate/check",
            )


def _annotations(c: Checker) -> Iterator[Diagnostic]:
    annotations = c.resource.metadata.annotations
    path: Path = ("metadata", "annotations")
    minimum = annotations.get(cn.MIN_REQUESTS_ANNOTATION)
    if minimum is not None and not minimum.isdigit():
        yield c.report(
            cc.BAD_ANNOTATION,
            f"{cn.MIN_REQUESTS_ANNOTATION} {minimum!r} is not a whole number",
            (*path, cn.MIN_REQUESTS_ANNOTATION),
            minimum,
            "a whole number of requests per interval, as text",
            'e.g. smimesh.io/min-requests: "20"',
        )
    choices = ((cn.ON_NO_DATA_ANNOTATION, cn.NO_DATA_POLICIES), (cn.NAMING_ANNOTATION, cn.NAMING_SCHEMES))
    for key, allowed in choices:
        value = annotations.get(key)
        if value is not None and value not in allowed:
            yield c.report(
                cc.BAD_ANNOTATION,
                f"{key} {value!r} is not one of {', '.join(allowed)}",
                (*path, key),
                value,
                " | ".join(allowed),
                f"the default is {allowed[0]}",
            )


def _provider(c: Checker) -> Iterator[Diagnostic]:
    provider = c.get(("spec", "provider"))
    version = NO_MATCH_PROVIDERS.get(provider) if isinstance(provider, str) else None
    match = c.get((*_ANALYSIS, "match"))
    if version and match:
        yield c.report(
            cc.NO_MATCHES_IN_VERSION,
            f"provider {provider!r} writes TrafficSplit {version}, which has no matches: "
            "A/B testing cannot route by header or cookie",
            (*_ANALYSIS, "match"),
            None,
            "a provider whose TrafficSplit has matches (smi:v1alpha3), or no provider",
            "remove `provider` (smimesh writes TrafficSplit v1alpha4), or drop `match` for a weighted canary",
        )
    elif isinstance(provider, str) and provider not in NO_MATCH_PROVIDERS and not provider.startswith("smi:"):
        yield c.report(
            cc.IGNORED_FIELD,
            f"provider {provider!r} is ignored: smimesh routes the canary with its own TrafficSplit",
            ("spec", "provider"),
            provider,
            "no provider, or an SMI one (smi:v1alpha3)",
            "keep it if Flagger also reads this manifest",
        )
