"""The SMI metrics API (`metrics.smi-spec.io/v1alpha1`, SPEC-DIGEST §5.3) as Starlette routes.

Paths under `/apis/metrics.smi-spec.io/v1alpha1`: discovery; `/{kind}` (all namespaces);
`/namespaces/{name}` and `/namespaces/{name}/edges`; `/namespaces/{ns}/{kind}`;
`/namespaces/{ns}/{kind}/{name}` and `.../edges`. Query parameters: `window` (or the reference
server's `t`), a Go duration up to the configured maximum, default 30s; `labelSelector` on lists.

This layer does not import telemetry (sibling layers are independent): it calls any object with
the `MetricsQueryLike` methods (the runtime passes a `telemetry.query.MetricsQuery`). Mistakes in
the request are 400/404 answers in the API's one error shape, with a code and a hint.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smimesh.api.errors import error_response, problem
from smimesh.diagnostics import Severity, register
from smimesh.errors import SmimeshError
from smimesh.resources.metrics import GROUP, TrafficMetrics, TrafficMetricsList

PREFIX = f"/apis/{GROUP}/v1alpha1"
DEFAULT_WINDOW_S = 30.0
SERVED = {
    "pods": "Pod",
    "deployments": "Deployment",
    "namespaces": "Namespace",
    "services": "Service",
    "trafficsplits": "TrafficSplit",
}
ALIASES = {
    "workloads": "deployments",
    "workload": "deployments",
    "pod": "pods",
    "deployment": "deployments",
    "service": "services",
    "namespace": "namespaces",
    "trafficsplit": "trafficsplits",
    "ts": "trafficsplits",
}
Handler = Callable[[Request], Awaitable[Response]]
Requirement = tuple[str, str, tuple[str, ...]]

UNSUPPORTED_KIND = register(
    "SM7601",
    "metrics are not served for this kind",
    Severity.ERROR,
    """The metrics API serves `pods` (workload instances), `deployments` (workloads; `workloads` is
    accepted too), `namespaces`, `services` and `trafficsplits` (the root and, under `/edges`, each
    backend). Kinds of the SMI spec that have no meaning on a
    smimesh mesh (nodes, replicasets, daemonsets, ...) are answered with 404.""",
)
NO_SUCH_OBJECT = register(
    "SM7602",
    "no such object in the mesh",
    Severity.ERROR,
    """The pod, workload, namespace or service named in the metrics path is not part of the running
    mesh. Pods are named `<workload>-<index>`; `smimesh status` lists them.""",
)
BAD_WINDOW = register(
    "SM7603",
    "invalid metrics window",
    Severity.ERROR,
    """`window` (or `t`) is a Go duration such as `30s`, `1m` or `5m0s`, greater than zero and at
    most the configured maximum (`metrics_max_window_s`, 5 minutes by default).""",
)
BAD_SELECTOR = register(
    "SM7604",
    "invalid label selector",
    Severity.ERROR,
    """`labelSelector` uses the Kubernetes syntax: `app=web`, `app!=web`, `tier in (a,b)`,
    `tier notin (a)`, `app` (has the label), `!app` (lacks it), comma-separated.""",
)
BACKEND_DOWN = register(
    "SM7605",
    "the metrics backend did not answer",
    Severity.ERROR,
    """The control plane answers metrics from a Prometheus server (`--metrics-backend prometheus`)
    and that server did not answer or refused the query. Check the Prometheus URL and that the
    server is up; the built-in backend does not depend on it.""",
)
_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<absent>[\w./-]+)|(?P<key>[\w./-]+)\s*"
    r"(?:(?P<op>==|!=|=)\s*(?P<value>[\w.-]*)|\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*$"
)


class MetricsQueryLike(Protocol):
    async def get(
        self, kind: str, namespace: str | None, name: str, window_s: float
    ) -> TrafficMetrics | None: ...

    async def list(
        self, kind: str, namespace: str | None, window_s: float, selector: Sequence[Requirement] = ()
    ) -> TrafficMetricsList: ...

    async def edges(
        self, kind: str, namespace: str | None, name: str, window_s: float
    ) -> TrafficMetricsList | None: ...


class RequestProblem(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def routes(
    query: MetricsQueryLike, *, max_window_s: float = 300.0, guard: Callable[[Handler], Handler] = lambda h: h
) -> list[BaseRoute]:
    """The metrics routes; `guard` wraps each handler (create_app passes its read-token check)."""
    api = _MetricsApi(query, max_window_s)
    paths: list[tuple[str, Handler]] = [
        ("", api.discovery),
        ("/", api.discovery),
        ("/namespaces/{name}", api.namespace),
        ("/namespaces/{name}/edges", api.namespace_edges),
        ("/namespaces/{namespace}/{kind}", api.list_in_namespace),
        ("/namespaces/{namespace}/{kind}/{name}", api.get_one),
        ("/namespaces/{namespace}/{kind}/{name}/edges", api.edges_of),
        ("/{kind}", api.list_all),
    ]
    return [Route(PREFIX + path, guard(handler), methods=["GET"]) for path, handler in paths]


class _MetricsApi:
    def __init__(self, query: MetricsQueryLike, max_window_s: float) -> None:
        self.query, self.max_window_s = query, max_window_s

    async def discovery(self, request: Request) -> Response:
        resources = [
            {
                "name": name,
                "namespaced": name != "namespaces",
                "kind": "TrafficMetrics",
                "verbs": ["get", "list"],
            }
            for name in SERVED
        ]
        body = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{GROUP}/v1alpha1"}
        return JSONResponse({**body, "resources": resources})

    async def namespace(self, request: Request) -> Response:
        return await self._get(request, "namespaces", None, request.path_params["name"], edges=False)

    async def namespace_edges(self, request: Request) -> Response:
        return await self._get(request, "namespaces", None, request.path_params["name"], edges=True)

    async def get_one(self, request: Request) -> Response:
        p = request.path_params
        return await self._get(request, p["kind"], p["namespace"], p["name"], edges=False)

    async def edges_of(self, request: Request) -> Response:
        p = request.path_params
        return await self._get(request, p["kind"], p["namespace"], p["name"], edges=True)

    async def list_all(self, request: Request) -> Response:
        return await self._list(request, request.path_params["kind"], None)

    async def list_in_namespace(self, request: Request) -> Response:
        return await self._list(request, request.path_params["kind"], request.path_params["namespace"])

    async def _get(
        self, request: Request, kind: str, namespace: str | None, name: str, *, edges: bool
    ) -> Response:
        try:
            kind = _kind(kind, namespaced=namespace is not None)
            window_s = _window(request, self.max_window_s)
        except RequestProblem as problem_:
            return problem_.response
        lookup = self.query.edges if edges else self.query.get
        try:
            found = await lookup(kind, namespace, name, window_s)
        except SmimeshError as exc:
            return _backend_down(exc)
        if found is None:
            where = f" in namespace {namespace!r}" if namespace else ""
            return _refuse(404, NO_SUCH_OBJECT.code, f"no {SERVED[kind]} named {name!r}{where}", name)
        return JSONResponse(found.to_dict())

    async def _list(self, request: Request, kind: str, namespace: str | None) -> Response:
        try:
            kind = _kind(kind, namespaced=namespace is not None)
            window_s = _window(request, self.max_window_s)
            selector = parse_selector(request.query_params.get("labelSelector", ""))
        except RequestProblem as problem_:
            return problem_.response
        try:
            listed = await self.query.list(kind, namespace, window_s, selector)
        except SmimeshError as exc:
            return _backend_down(exc)
        return JSONResponse(listed.to_dict())


def _backend_down(exc: SmimeshError) -> Response:
    """The metrics backend (a Prometheus server) failed: 503 with its message, not a traceback."""
    diagnostic = problem(BACKEND_DOWN.code, exc.message)  # the hint is said once, in the error
    return error_response(503, exc.message, [diagnostic], hint=exc.hint or BACKEND_DOWN.explanation)


def _refuse(status: int, code: str, message: str, value: str) -> Response:
    hint = {
        UNSUPPORTED_KIND.code: UNSUPPORTED_KIND.explanation,
        NO_SUCH_OBJECT.code: NO_SUCH_OBJECT.explanation,
        BAD_WINDOW.code: BAD_WINDOW.explanation,
        BAD_SELECTOR.code: BAD_SELECTOR.explanation,
    }[code]
    # the hint is said once, in the error itself (the CLI prints the error, then each diagnostic)
    return error_response(status, message, [problem(code, message, value=value)], hint=hint)


def _kind(name: str, *, namespaced: bool) -> str:
    kind = ALIASES.get(name.lower(), name.lower())
    if kind not in SERVED or (namespaced and kind == "namespaces"):
        raise RequestProblem(_refuse(404, UNSUPPORTED_KIND.code, f"Unsupported resource: {name}", name))
    return kind


def _window(request: Request, max_window_s: float) -> float:
    text = request.query_params.get("window") or request.query_params.get("t")
    if not text:
        return min(DEFAULT_WINDOW_S, max_window_s)
    seconds = _go_duration(text)
    if seconds is None or not 0 < seconds <= max_window_s:
        message = f"window {text!r} is not a duration between 0 and {max_window_s:g}s"
        raise RequestProblem(_refuse(400, BAD_WINDOW.code, message, text))
    return seconds


_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _go_duration(text: str) -> float | None:
    if not _DURATION.match(text):
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in _DURATION_PART.findall(text))


def parse_selector(text: str) -> list[Requirement]:
    """A Kubernetes label selector string → requirements `(key, op, values)`; RequestProblem if invalid."""
    requirements: list[Requirement] = []
    for part in _split_selector(text):
        match = _REQUIREMENT.match(part)
        if match is None:
            raise RequestProblem(
                _refuse(400, BAD_SELECTOR.code, f"cannot read label selector part {part!r}", part)
            )
        requirements.append(_requirement(match))
    return requirements


def _requirement(match: re.Match[str]) -> Requirement:
    if match["absent"]:
        return (match["absent"], "!", ())
    if match["op"]:
        return (match["key"], match["op"], (match["value"],))
    if match["setop"]:
        values = tuple(v.strip() for v in match["values"].split(",") if v.strip())
        return (match["key"], match["setop"], values)
    return (match["key"], "exists", ())


def _split_selector(text: str) -> list[str]:
    """Split on the commas that are not inside `in (...)` value lists."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in [*parts, current] if p.strip()]
