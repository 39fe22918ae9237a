"""Gateway API `HTTPRoute` (gateway.networking.k8s.io/v1) in its mesh (GAMMA) form, beside SMI.

A route is attached to a Service (`parentRefs: [{group: "", kind: Service, name, port?}]`) and
sends the requests its rules match to weighted `backendRefs` (Services of the route's namespace,
each with a port). What smimesh reads: matches on path (Exact, PathPrefix, RegularExpression),
method and headers (Exact, RegularExpression); backend weights. Everything else a route can say
(filters, timeouts, query-parameter matches, Gateway parents, consumer routes in another namespace,
cross-namespace backends) is refused with a diagnostic rather than silently ignored: a route that
does less than it says would misroute traffic. `hostnames` is tolerated (GAMMA ignores it for a
Service parent) with a warning. The semantics (precedence, 404 for unmatched) are in `mesh/gamma.py`
and `mesh/build_routes.py`; the checks here are the CRD's structure and CEL rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from smimesh.diagnostics import Diagnostic
from smimesh.resources import codes_gateway as codes
from smimesh.resources.checker import Checker, Path, re2_error
from smimesh.resources.meta import Resource, SmiModel

GROUP = "gateway.networking.k8s.io"
HUB_VERSION = f"{GROUP}/v1"
Port = Annotated[int, Field(ge=1, le=65535)]
Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class ParentRef(SmiModel):
    group: str = GROUP
    kind: str = "Gateway"
    name: str
    namespace: str | None = None
    port: Port | None = None
    section_name: str | None = Field(default=None, alias="sectionName")


class PathMatch(SmiModel):
    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = "/"


class HeaderMatch(SmiModel):
    type: Literal["Exact", "RegularExpression"] = "Exact"
    name: str
    value: str


class RouteMatch(SmiModel):
    path: PathMatch | None = None
    method: Method | None = None
    headers: list[HeaderMatch] | None = None


class BackendRef(SmiModel):
    group: str = ""
    kind: str = "Service"
    name: str
    namespace: str | None = None
    port: Port | None = None
    weight: Annotated[int, Field(ge=0, le=1_000_000)] = 1


class RouteRule(SmiModel):
    name: str | None = None
    matches: list[RouteMatch] | None = None
    backend_refs: list[BackendRef] | None = Field(default=None, alias="backendRefs")

    @property
    def effective_matches(self) -> list[RouteMatch]:
        """No matches = one prefix match on `/` (the CRD's default)."""
        return self.matches or [RouteMatch()]


class HTTPRouteSpec(SmiModel):
    parent_refs: Annotated[list[ParentRef], Field(min_length=1, max_length=32)] = Field(alias="parentRefs")
    hostnames: list[str] | None = None
    rules: Annotated[list[RouteRule], Field(max_length=16)] = Field(default_factory=lambda: [RouteRule()])


class HTTPRoute(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "HTTPRoute"
    api_version: Literal["gateway.networking.k8s.io/v1"] = Field(
        default="gateway.networking.k8s.io/v1", alias="apiVersion"
    )
    kind: Literal["HTTPRoute"] = "HTTPRoute"
    spec: HTTPRouteSpec
    status: dict[str, Any] | None = None


# --- the CRD's CEL rules for path values (httproutes CRD, spec.rules[].matches[].path) ------------------
_PATH_CHARS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")


def path_value_problem(value: str) -> str | None:
    """What the CRD's CEL rules say against an `Exact`/`PathPrefix` value, or None."""
    checks = (
        (value.startswith("/"), "value must be an absolute path"),  # self.value.startsWith('/')
        ("//" not in value, "must not contain '//'"),
        ("/./" not in value, "must not contain '/./'"),
        ("/../" not in value, "must not contain '/../'"),
        ("%2f" not in value and "%2F" not in value, "must not contain '%2f' or '%2F'"),
        ("#" not in value, "must not contain '#'"),
        (not value.endswith("/..") and not value.endswith("/."), "must not end with '/..' or '/.'"),
        (bool(_PATH_CHARS.match(value)), "must only contain valid characters"),
    )
    return next((message for ok, message in checks if not ok), None)


# --- semantic checks (SM306x) -----------------------------------------------------------------------------
def check_http_route(c: Checker) -> Iterator[Diagnostic]:
    route: HTTPRoute = c.resource  # type: ignore[assignment]
    for index, parent in enumerate(route.spec.parent_refs):
        yield from _parent(c, route, ("spec", "parentRefs", index), parent)
    if route.spec.hostnames:
        yield c.report(
            codes.HOSTNAMES_IGNORED,
            "hostnames are ignored for a Service parent",
            ("spec", "hostnames"),
            route.spec.hostnames,
            "no hostnames",
            "remove `hostnames`: the route applies to the requests for its parent Service",
        )
    for r, rule in enumerate(route.spec.rules):
        where: Path = ("spec", "rules", r)
        for m, match in enumerate(rule.matches or ()):
            yield from _match(c, (*where, "matches", m), match)
        for b, backend in enumerate(rule.backend_refs or ()):
            yield from _backend(c, route, (*where, "backendRefs", b), backend)


def _parent(c: Checker, route: HTTPRoute, where: Path, parent: ParentRef) -> Iterator[Diagnostic]:
    if parent.group != "" or parent.kind != "Service":
        yield c.report(
            codes.PARENT_NOT_SERVICE,
            f"parent {parent.group or 'core'}/{parent.kind} is not a Service",
            where,
            f"{parent.group}/{parent.kind}",
            'group: "" and kind: Service',
            'smimesh is a mesh: attach the route to a Service (GAMMA); write group as ""',
        )
    elif parent.namespace not in (None, route.metadata.namespace):
        yield c.report(
            codes.CONSUMER_ROUTE,
            "a route for a Service of another namespace (a consumer route)",
            (*where, "namespace"),
            parent.namespace,
            f"namespace {route.metadata.namespace}",
            "put the route in the Service's namespace",
        )
    elif parent.section_name is not None:
        yield c.report(
            codes.PARENT_NOT_SERVICE,
            "sectionName is not supported for a Service parent",
            (*where, "sectionName"),
            parent.section_name,
            "port",
            "select the port with `port`",
        )


def _match(c: Checker, where: Path, match: RouteMatch) -> Iterator[Diagnostic]:
    if match.path is not None:
        value = match.path.value
        problem = re2_error(value) if match.path.type == "RegularExpression" else path_value_problem(value)
        if problem:
            yield c.report(
                codes.BAD_MATCH,
                f"path {match.path.type} value: {problem}",
                (*where, "path", "value"),
                value,
                "a valid path (RE2 for RegularExpression)",
                "an absolute path without //, /./, /../, %2f or #; for a RegularExpression no look-around",
            )
    names: set[str] = set()
    for h, header in enumerate(match.headers or ()):
        if header.name.lower() in names:
            yield c.report(
                codes.BAD_MATCH,
                f"header {header.name!r} is matched twice",
                (*where, "headers", h),
                header.name,
                "each header name once (names ignore case)",
                "merge both conditions into one match",
            )
        names.add(header.name.lower())
        if header.type == "RegularExpression" and (problem := re2_error(header.value)):
            yield c.report(
                codes.BAD_MATCH,
                f"header regex: {problem}",
                (*where, "headers", h, "value"),
                header.value,
                "an RE2 regex",
                "rewrite without look-around and back-references: Envoy would reject it",
            )


def _backend(c: Checker, route: HTTPRoute, where: Path, backend: BackendRef) -> Iterator[Diagnostic]:
    if backend.group != "" or backend.kind != "Service":
        yield c.report(
            codes.BAD_BACKEND,
            f"backend {backend.group}/{backend.kind} is not a Service",
            where,
            backend.kind,
            'group: "" and kind: Service',
            "smimesh routes to Services: name the backend Service",
        )
    elif backend.namespace not in (None, route.metadata.namespace):
        yield c.report(
            codes.BAD_BACKEND,
            "a backend in another namespace (needs a ReferenceGrant)",
            (*where, "namespace"),
            backend.namespace,
            f"namespace {route.metadata.namespace}",
            "smimesh does not read ReferenceGrants: use a backend of the route's namespace",
        )
    elif backend.port is None:
        # CEL: (size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true
        yield c.report(
            codes.BAD_BACKEND,
            "must specify port for Service reference",
            where,
            backend.name,
            "a port number of the backend Service",
            "add `port:` (Gateway API requires it for a Service backend)",
        )
