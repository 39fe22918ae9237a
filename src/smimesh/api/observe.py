"""Observing paths: the tap stream, per-route metrics, observed calls and `policy suggest`.

All are reads (loopback open, else the token, as every read). The runtime passes an object with the
`ObserveLike` methods (`runtime.observe.Observatory`); this layer does not import telemetry.

- `GET /api/v1/tap?namespace=NS&workload=W[&to=SERVICE][&path=REGEX]`: a stream, one JSON object
  per line per request (`application/x-ndjson`), or server-sent events with `Accept:
  text/event-stream` (the dashboard). The first line (blank) comes as soon as the tap is in place;
  later blank lines are heartbeats. A line `{"dropped": n}` says the listener fell behind and n
  requests were dropped (the server keeps a bounded queue per listener). Stops when the client goes.
- `GET /apis/metrics.smi-spec.io/v1alpha1/namespaces/{ns}/{kind}/{name}/routes?window=`: per-route
  metrics (one item per HTTPRouteGroup match) and `denied_count`/`audit_denied_count`.
- `GET /api/v1/observed?window=10m[&namespace=]`: distinct inbound calls the sidecars logged.
- `GET /api/v1/policy/suggest?window=10m[&namespace=]`: `{observed, documents, notes}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from smimesh.api import errors
from smimesh.api.dashboard import routes as dashboard_routes
from smimesh.api.metrics_routes import NO_SUCH_OBJECT, PREFIX, RequestProblem, _go_duration, _kind, _window
from smimesh.diagnostics import Severity, register

Handler = Callable[[Request], Awaitable[Response]]
OBSERVE_QUERY = register(
    "SM7320",
    "tap or observation query not understood",
    Severity.ERROR,
    """`/api/v1/tap` needs `namespace` and `workload` (and takes `to` and `path`, a regular
    expression); `/api/v1/observed` and `/api/v1/policy/suggest` take `window`, a duration up to 1h
    (`10m` by default), and `namespace`.""",
)
SUGGEST_MAX_WINDOW_S = 3600.0
DEFAULT_OBSERVE_WINDOW_S = 600.0


class ObserveLike(Protocol):
    def tap(self, namespace: str, workload: str, to: str, path: str) -> AsyncIterator[dict[str, Any]]: ...

    async def routes(self, kind: str, namespace: str | None, name: str, window_s: float) -> Any: ...

    def observed(self, window_s: float, namespace: str | None = None) -> list[dict[str, Any]]: ...

    def suggest(self, namespace: str | None, window_s: float) -> dict[str, Any]: ...

    async def graph(self, window_s: float, namespace: str | None = None) -> dict[str, Any]: ...

    def graph_stream(
        self, window_s: float, namespace: str | None
    ) -> AsyncIterator[dict[str, Any] | None]: ...


def routes(
    observe: ObserveLike, *, max_window_s: float, guard: Callable[[Handler], Handler]
) -> list[BaseRoute]:
    api = _ObserveApi(observe, max_window_s)
    paths: list[tuple[str, Handler]] = [
        ("/api/v1/tap", api.tap),
        ("/api/v1/observed", api.observed),
        ("/api/v1/policy/suggest", api.suggest),
        (PREFIX + "/namespaces/{namespace}/{kind}/{name}/routes", api.routes),
    ]
    own = [Route(path, guard(handler), methods=["GET"]) for path, handler in paths]

    def window(request: Request) -> float | None:
        try:
            return _window(request, max_window_s)
        except RequestProblem:
            return None

    return own + dashboard_routes(observe, window, guard)


def _bad(message: str, hint: str) -> Response:
    diagnostic = errors.problem(OBSERVE_QUERY.code, message, hint=hint)
    return errors.error_response(400, message, [diagnostic], hint=hint)


class _ObserveApi:
    def __init__(self, observe: ObserveLike, max_window_s: float) -> None:
        self.observe, self.max_window_s = observe, max_window_s

    async def tap(self, request: Request) -> Response:
        params = request.query_params
        if not params.get("workload") or not params.get("namespace"):
            return _bad("missing query parameter workload or namespace", "e.g. ?namespace=shop&workload=web")
        path = params.get("path", "")
        try:
            re.compile(path)
        except re.error as exc:
            return _bad(f"--path {path!r} is not a regular expression: {exc}", "e.g. --path '^/books'")
        batches = self.observe.tap(params["namespace"], params["workload"], params.get("to", ""), path)
        sse = "text/event-stream" in request.headers.get("accept", "")
        body = _sse(batches) if sse else _ndjson(batches)
        media = "text/event-stream" if sse else "application/x-ndjson"
        return StreamingResponse(body, media_type=media, headers={"Cache-Control": "no-store"})

    async def routes(self, request: Request) -> Response:
        p = request.path_params
        try:
            kind = _kind(p["kind"], namespaced=True)
            window_s = _window(request, self.max_window_s)
        except RequestProblem as problem:
            return problem.response
        found = await self.observe.routes(kind, p["namespace"], p["name"], window_s)
        if found is None:
            message = f"no {kind} named {p['name']!r} in namespace {p['namespace']!r}"
            diagnostic = errors.problem(NO_SUCH_OBJECT.code, message, value=p["name"])
            return errors.error_response(404, message, [diagnostic], hint=NO_SUCH_OBJECT.explanation)
        return JSONResponse(found)

    async def observed(self, request: Request) -> Response:
        window_s = _observe_window(request)
        if window_s is None:
            return _bad("window must be a duration up to 1h", "e.g. ?window=10m")
        namespace = request.query_params.get("namespace") or None
        return JSONResponse({"window_s": window_s, "items": self.observe.observed(window_s, namespace)})

    async def suggest(self, request: Request) -> Response:
        window_s = _observe_window(request)
        if window_s is None:
            return _bad("window must be a duration up to 1h", "e.g. --window 10m")
        namespace = request.query_params.get("namespace") or None
        return JSONResponse(self.observe.suggest(namespace, window_s))


def _observe_window(request: Request) -> float | None:
    text = request.query_params.get("window")
    if not text:
        return DEFAULT_OBSERVE_WINDOW_S
    seconds = _go_duration(text)
    return seconds if seconds is not None and 0 < seconds <= SUGGEST_MAX_WINDOW_S else None


async def _ndjson(batches: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield b""  # headers out at once: the client knows the tap is listening
    reported = 0
    async for batch in batches:
        lines = [json.dumps(event) for event in batch["events"]]
        if batch["dropped"] > reported:
            lines.append(json.dumps({"dropped": batch["dropped"] - reported}))
            reported = batch["dropped"]
        yield ("\n".join(lines) + "\n").encode() if lines else b"\n"  # a blank line is a heartbeat


async def _sse(batches: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield b": tap\n\n"
    async for batch in batches:
        if not batch["events"]:
            yield b": heartbeat\n\n"
        for event in batch["events"]:
            yield f"data: {json.dumps(event)}\n\n".encode()
