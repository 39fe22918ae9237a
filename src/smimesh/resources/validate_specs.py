"""Semantic checks of the SMI route and split kinds: HTTPRouteGroup, TCPRoute/UDPRoute, TrafficSplit.

Owns RE2 validity and size of `pathRegex` and header regexes (what Envoy would NACK), unique match
names, header names and duplicates, redundant methods, duplicate ports, split service names, duplicate
or self-referencing backends, negative weights and weights past Envoy's limits (`envoy_limits`). Each
check reads the document as written (any version).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.resources import codes, dns
from smimesh.resources.checker import Checker, Path, re2_error
from smimesh.resources.envoy_limits import UINT32_MAX, envoy_path_regex, regex_too_large
from smimesh.resources.split import local_service_name, parse_service_ref


# --- specs.smi-spec.io ----------------------------------------------------------------------------
def http_matches(c: Checker) -> Iterator[Diagnostic]:
    matches = c.items((*c.base, "matches"))
    names = Counter(m.get("name") for _, m in matches if isinstance(m, dict))
    for path, match in matches:
        if not isinstance(match, dict):
            continue
        if names[match.get("name")] > 1:
            yield c.report(
                codes.DUPLICATE_MATCH,
                f"match name {match.get('name')!r} is used more than once",
                (*path, "name"),
                match.get("name"),
                "unique names within the group",
            )
        yield from _path_regex(c, path, match.get("pathRegex"))
        yield from _methods(c, path, match.get("methods"))
        yield from _headers(c, (*path, "headers"), match.get("headers"))


def _path_regex(c: Checker, path: Path, regex: Any) -> Iterator[Diagnostic]:
    if isinstance(regex, str):
        problem = re2_error(regex)
        if problem:
            yield c.report(
                codes.BAD_PATH_REGEX,
                f"pathRegex is not valid RE2: {problem}",
                (*path, "pathRegex"),
                regex,
                "an RE2 regex (no look-around, no back-references)",
                "rewrite without (?=, (?!, (?<=, (?<! and \\1; Envoy would reject it",
            )
        elif problem := regex_too_large(envoy_path_regex(regex)):
            yield _too_complex(
                c, (*path, "pathRegex"), f"pathRegex {envoy_path_regex(regex)!r}", problem, regex
            )


def _methods(c: Checker, path: Path, methods: Any) -> Iterator[Diagnostic]:
    if not isinstance(methods, list) or len(methods) < 2:
        return
    if "*" in methods or len(set(methods)) < len(methods):
        yield c.report(
            codes.REDUNDANT_METHODS,
            "methods repeats a method or combines '*' with others",
            (*path, "methods"),
            methods,
            hint="'*' alone means every method",
        )


def _headers(c: Checker, path: Path, headers: Any) -> Iterator[Diagnostic]:
    if isinstance(headers, dict):
        entries = [((*path, name), name, value) for name, value in headers.items()]
    elif isinstance(headers, list):
        entries = [
            ((*path, i, name), name, value)
            for i, entry in enumerate(headers)
            if isinstance(entry, dict)
            for name, value in entry.items()
        ]
    else:
        return
    seen: dict[str, str] = {}
    for where, name, value in entries:
        yield from _header(c, where, str(name), value, seen)


def _header(c: Checker, where: Path, name: str, value: Any, seen: dict[str, str]) -> Iterator[Diagnostic]:
    bare = name[1:] if name.startswith(":") else name
    problem = dns.http_header_name(bare)
    if problem or (name.startswith(":") and name != ":authority"):
        yield c.report(
            codes.BAD_HEADER_NAME,
            f"header name {name!r} is not valid",
            where,
            name,
            problem or "a regular header name or :authority",
            "use `host` to match the authority",
        )
    if name.lower() in seen:
        yield c.report(
            codes.DUPLICATE_HEADER,
            f"header {name!r} repeats {seen[name.lower()]!r} (names ignore case)",
            where,
            name,
            hint="merge both conditions into one regex",
        )
    seen[name.lower()] = name
    if isinstance(value, str) and (problem := re2_error(value)):
        yield c.report(
            codes.BAD_HEADER_REGEX,
            f"regex for header {name!r} is not valid RE2: {problem}",
            where,
            value,
            "an RE2 regex",
            "RE2 has no look-around and no back-references",
        )
    elif isinstance(value, str) and (problem := regex_too_large(value)):
        yield _too_complex(c, where, f"regex for header {name!r}", problem, value)


def _too_complex(c: Checker, path: Path, what: str, problem: str, value: str) -> Diagnostic:
    return c.report(
        codes.REGEX_TOO_COMPLEX,
        f"{what}: {problem}",
        path,
        value,
        "a regex whose RE2 program size is at most 100",
        "use + or * instead of counted repetitions like {1,64}, or split it into several matches",
    )


def port_matches(c: Checker) -> Iterator[Diagnostic]:
    seen: set[Any] = set()
    for where, port in c.items((*c.base, "matches", "ports")):
        if port in seen:
            yield c.report(codes.DUPLICATE_PORT, f"port {port} is listed more than once", where, port)
        seen.add(port)


# --- split.smi-spec.io ------------------------------------------------------------------------------
def split(c: Checker) -> Iterator[Diagnostic]:
    """Root and backends name Services of the split's namespace, each backend once; weights ≥ 0."""
    namespace = c.resource.metadata.namespace
    written = c.get(("spec", "service"))
    root = local_service_name(written, namespace) if isinstance(written, str) else None
    if isinstance(written, str):
        yield from _service_ref(c, ("spec", "service"), "root service", written)
    seen: set[str] = set()
    for path, backend in c.items(("spec", "backends")):
        ref = backend.get("service") if isinstance(backend, dict) else None
        if not isinstance(ref, str):
            continue
        name = local_service_name(ref, namespace)
        yield from _service_ref(c, (*path, "service"), "backend service", ref)
        yield from _backend(c, (*path, "service"), name, root, seen)
        yield from _weight(c, (*path, "weight"), backend.get("weight"))
        seen.add(name)
    yield from _envoy_weights(c)


def _backend(c: Checker, where: Path, name: str, root: str | None, seen: set[str]) -> Iterator[Diagnostic]:
    if name in seen:
        yield c.report(
            codes.DUPLICATE_BACKEND,
            f"backend {name!r} is listed more than once",
            where,
            name,
            hint="add the weights into one entry",
        )
    if name == root:
        yield c.report(
            codes.SELF_BACKEND,
            f"the root service {name!r} is also a backend",
            where,
            name,
            hint="it means the root Service's own endpoints (not recursive)",
        )


def _service_ref(c: Checker, path: Path, what: str, ref: str) -> Iterator[Diagnostic]:
    name, named = parse_service_ref(ref)
    own = c.resource.metadata.namespace
    if named is not None and named != own:
        yield c.report(
            codes.FOREIGN_SPLIT_SERVICE,
            f"{what} {ref!r} is in namespace {named!r}, but the TrafficSplit is in {own!r}",
            path,
            ref,
            f"a Service of namespace {own!r}: {name!r} or {name}.{own}",
            f"create the TrafficSplit in namespace {named!r}, or name a Service of {own!r}",
        )
    elif problem := dns.dns1035_label(name):
        example = dns.suggest(name.split(".")[0], letter_first=True)
        yield c.report(
            codes.BAD_SERVICE_REF,
            f"{what} {ref!r} is {problem}",
            path,
            ref,
            f"the name of a Service in this namespace: {dns.LABEL_1035_RULE}",
            f"give the Service's name, e.g. {example!r} (or {example}.{own}, "
            f"{example}.{own}.svc.cluster.local), not a URL or another host name",
        )


def _weight(c: Checker, path: Path, weight: Any) -> Iterator[Diagnostic]:
    negative = (isinstance(weight, int | float) and not isinstance(weight, bool) and weight < 0) or (
        isinstance(weight, str) and weight.strip().startswith("-")
    )
    if negative:
        yield c.report(codes.NEGATIVE_WEIGHT, "weight is negative", path, weight, "0 or more")


def _envoy_weights(c: Checker) -> Iterator[Diagnostic]:
    """Each weight, and their sum, within Envoy's uint32 (weights as the hub holds them: a v1alpha1
    quantity is already its milli-value). The sum of all backends bounds every route's sum."""
    spec = getattr(c.resource, "spec", None)
    weights = [backend.weight for backend in getattr(spec, "backends", ())]
    for index, weight in enumerate(weights):
        if weight > UINT32_MAX:
            path = ("spec", "backends", index, "weight")
            yield c.report(
                codes.WEIGHT_TOO_LARGE,
                f"weight {_as_sent(c, path, weight)}is more than Envoy accepts",
                path,
                c.get(path),
                f"at most {UINT32_MAX}",
                "weights are relative: scale them all down keeping the ratio, e.g. 90 and 10",
            )
    if all(w <= UINT32_MAX for w in weights) and sum(weights) > UINT32_MAX:
        yield c.report(
            codes.WEIGHT_SUM_TOO_LARGE,
            f"the weights add up to {sum(weights)}; Envoy refuses a route whose weights add up to more",
            ("spec", "backends"),
            " + ".join(map(str, weights)),
            f"a sum of at most {UINT32_MAX}",
            "weights are relative: scale them all down keeping the ratio, e.g. 4 and 1",
        )


def _as_sent(c: Checker, path: Path, weight: int) -> str:
    """How the value reads once converted, when that differs from what the user wrote."""
    written = c.get(path)
    return "" if written == weight else f"{written!r} (= {weight} after conversion) "
