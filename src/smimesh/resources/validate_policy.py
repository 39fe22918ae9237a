"""Per-object checks (SM38xx) of OSM's Retry / UpstreamTrafficSetting and smimesh's ResiliencePolicy.

Owns what the schema cannot say: durations, `retryOn` conditions, subject kinds, the namespace rule,
the `host` form, RE2 paths, and the refusal of `rateLimit.global`. Reads the document as written,
so each diagnostic names the field path and line.
"""

from __future__ import annotations

from collections.abc import Iterator

from envoy.type.v3 import http_status_pb2

from smimesh.diagnostics import Diagnostic
from smimesh.resources import codes, dns
from smimesh.resources import codes_policy as pc
from smimesh.resources.checker import Checker, Path, re2_error
from smimesh.resources.durations import EXPECTED, duration_problem

RETRY_CONDITIONS = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
    }
)
_ZERO_HINT = "use 0 for none"
_GLOBAL_HINT = (
    "smimesh runs no rate-limit service: use `rateLimit.local` (requests or connections per unit, "
    "enforced by each destination sidecar), or remove `global`"
)


def duration(c: Checker, path: Path) -> Iterator[Diagnostic]:
    value = c.get(path)
    if value is not None and (problem := duration_problem(value)):
        yield c.report(pc.BAD_DURATION, problem, path, value, EXPECTED, "for example '1s' or '250ms'")


def _path_regex(c: Checker, path: Path) -> Iterator[Diagnostic]:
    value = c.get(path)
    if isinstance(value, str) and (problem := re2_error(value)):
        yield c.report(codes.BAD_PATH_REGEX, f"path {value!r} is not an RE2 regex: {problem}", path, value)


def _same_namespace(c: Checker, path: Path, what: str) -> Iterator[Diagnostic]:
    namespace, own = c.get(path), c.resource.metadata.namespace
    if isinstance(namespace, str) and namespace != own:
        yield c.report(
            pc.FOREIGN_POLICY,
            f"{what} namespace {namespace!r} differs from the policy's namespace {own!r}",
            path,
            namespace,
            own,
            f"create the {c.resource.KIND} in namespace {namespace!r}",
        )


def _subject(c: Checker, path: Path, kind: str) -> Iterator[Diagnostic]:
    found = c.get((*path, "kind"))
    if found != kind:
        yield c.report(
            pc.BAD_SUBJECT_KIND,
            f"kind {found!r} is not {kind}",
            (*path, "kind"),
            found,
            kind,
            f"write kind: {kind}",
        )
    rule = "dns1035-label" if kind == "Service" else "dns1123-subdomain"
    yield from c.name(codes.BAD_NAME, f"{kind} name", c.get((*path, "name")), (*path, "name"), rule)
    yield from c.name(
        codes.BAD_NAMESPACE, "namespace", c.get((*path, "namespace")), (*path, "namespace"), "dns1123-label"
    )


def retry(c: Checker) -> Iterator[Diagnostic]:
    yield from _subject(c, ("spec", "source"), "ServiceAccount")
    yield from _same_namespace(c, ("spec", "source", "namespace"), "source")
    for path, _ in c.items(("spec", "destinations")):
        yield from _subject(c, path, "Service")
    policy: Path = ("spec", "retryPolicy")
    for field in ("perTryTimeout", "retryBackoffBaseInterval"):
        yield from duration(c, (*policy, field))
    yield from _retry_on(c, (*policy, "retryOn"))
    count = c.get((*policy, "numRetries"))
    if isinstance(count, int) and count < 0:
        yield c.report(
            pc.BAD_NUMBER,
            f"numRetries {count} is negative",
            (*policy, "numRetries"),
            count,
            "0 or more",
            _ZERO_HINT,
        )


def _retry_on(c: Checker, path: Path) -> Iterator[Diagnostic]:
    value = c.get(path)
    unknown = [part for part in str(value).split(",") if part.strip() not in RETRY_CONDITIONS]
    if isinstance(value, str) and unknown:
        yield c.report(
            pc.BAD_RETRY_ON,
            f"unknown retry condition(s) {', '.join(map(repr, unknown))}",
            path,
            value,
            "comma-separated: " + ", ".join(sorted(RETRY_CONDITIONS)),
            "OSM's example uses retryOn: 5xx",
        )


def upstream_traffic_setting(c: Checker) -> Iterator[Diagnostic]:
    yield from _host(c, ("spec", "host"))
    yield from duration(c, ("spec", "connectionSettings", "tcp", "connectTimeout"))
    yield from _global(c, ("spec", "rateLimit"))
    for kind in ("tcp", "http"):
        yield from _burst(c, ("spec", "rateLimit", "local", kind, "burst"))
    yield from _status(c, ("spec", "rateLimit", "local", "http", "responseStatusCode"))
    for path, _ in c.items(("spec", "httpRoutes")):
        yield from _path_regex(c, (*path, "path"))
        yield from _global(c, (*path, "rateLimit"))
        yield from _burst(c, (*path, "rateLimit", "local", "burst"))
        yield from _status(c, (*path, "rateLimit", "local", "responseStatusCode"))


def _status(c: Checker, path: Path) -> Iterator[Diagnostic]:
    """Envoy answers only the status codes its `StatusCode` enum names (499, for one, is not there)."""
    value = c.get(path)
    known = http_status_pb2.StatusCode.values()
    if isinstance(value, int) and 400 <= value <= 599 and value not in known:
        yield c.report(
            pc.UNSUPPORTED_FIELD,
            f"Envoy cannot answer with status {value}",
            path,
            value,
            "a 4xx/5xx status Envoy knows, e.g. 429 or 503",
            "use 429 (the default) or 503",
        )


def _global(c: Checker, rate_limit: Path) -> Iterator[Diagnostic]:
    value = c.get((*rate_limit, "global"))
    if value is not None:
        yield c.report(
            pc.UNSUPPORTED_FIELD,
            "global rate limiting is not supported: it needs an external rate-limit service",
            (*rate_limit, "global"),
            value,
            "rateLimit.local",
            _GLOBAL_HINT,
        )


def _burst(c: Checker, path: Path) -> Iterator[Diagnostic]:
    value = c.get(path)
    if isinstance(value, int) and value < 0:
        yield c.report(pc.BAD_NUMBER, f"burst {value} is negative", path, value, "0 or more", _ZERO_HINT)


def _host(c: Checker, path: Path) -> Iterator[Diagnostic]:
    host = c.get(path)
    if not isinstance(host, str):
        return
    parts = host.split(".")
    own = c.resource.metadata.namespace
    if any(dns.dns1035_label(p) if i == 0 else dns.dns1123_label(p) for i, p in enumerate(parts[:2])) or (
        len(parts) > 2 and parts[2] != "svc"
    ):
        yield c.report(
            pc.BAD_HOST,
            f"host {host!r} is not a Service host name",
            path,
            host,
            "svc, svc.ns, svc.ns.svc or svc.ns.svc.cluster.local",
            f"for example 'SERVICE.{own}.svc.cluster.local'",
        )
    elif len(parts) > 1 and parts[1] != own:
        yield c.report(
            pc.FOREIGN_POLICY,
            f"host {host!r} is in namespace {parts[1]!r}, the policy in {own!r}",
            path,
            host,
            f"a Service of namespace {own!r}",
            f"create the UpstreamTrafficSetting in namespace {parts[1]!r}",
        )


def resilience_policy(c: Checker) -> Iterator[Diagnostic]:
    service = c.get(("spec", "service"))
    yield from c.name(codes.BAD_NAME, "Service name", service, ("spec", "service"), "dns1035-label")
    yield from duration(c, ("spec", "requestTimeout"))
    for path, _ in c.items(("spec", "httpRoutes")):
        yield from _path_regex(c, (*path, "path"))
        yield from duration(c, (*path, "requestTimeout"))
    outlier: Path = ("spec", "outlierDetection")
    for field in ("interval", "baseEjectionTime"):
        yield from duration(c, (*outlier, field))
