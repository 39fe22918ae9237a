"""`/dashboard/`: the page (static files shipped in the package) and the graph it draws.

The page is plain HTML, CSS and JavaScript in `api/static/` with the graph library vendored in
`api/static/vendor/` (built from npm by `dashboard/build.mjs`; nothing is fetched from elsewhere at
run time). It is served under the API's read rule (open from loopback, else the token), with a
Content-Security-Policy that lets the page talk to this API only (scripts only from here; inline
styles are allowed because the graph library sets element styles). The page sends the token it was
opened with (`smimesh dashboard` puts it in the URL fragment, which never reaches a server or a log)
as `Authorization: Bearer`, the way the CLI does; it has no write action.

- `GET /dashboard/`, `/dashboard/static/{file}`, `/favicon.ico`
- `GET /api/v1/graph?window=30s[&namespace=]`: `telemetry.graph.build_graph` over the window
- `GET /api/v1/graph/stream?window=30s[&namespace=]`: server-sent events, one `data:` graph whenever it
  changed (checked every second), comments as heartbeats
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from smimesh.api import errors

STATIC = Path(__file__).parent / "static"
Handler = Callable[[Request], Awaitable[Response]]
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html",
          ".txt": "text/plain"}  # fmt: skip
_SECURE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def routes(
    observe: Any, window: Callable[[Request], float | None], guard: Callable[[Handler], Handler]
) -> list[BaseRoute]:
    async def graph(request: Request) -> Response:
        window_s = window(request)
        if window_s is None:
            return _bad_window()
        namespace = request.query_params.get("namespace") or None
        return JSONResponse(await observe.graph(window_s, namespace))

    async def graph_stream(request: Request) -> Response:
        window_s = window(request)
        if window_s is None:
            return _bad_window()
        namespace = request.query_params.get("namespace") or None
        body = _events(observe.graph_stream(window_s, namespace))
        return StreamingResponse(body, media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    paths: list[tuple[str, Handler]] = [
        ("/dashboard", _to_page),
        ("/dashboard/", _page),
        ("/dashboard/static/{file:path}", _static),
        ("/favicon.ico", _favicon),
        ("/api/v1/graph", graph),
        ("/api/v1/graph/stream", graph_stream),
    ]
    return [Route(path, guard(handler), methods=["GET"]) for path, handler in paths]


def _bad_window() -> Response:
    message = "window must be a duration up to the metrics window (5m by default)"
    return errors.error_response(400, message, [errors.problem("SM7603", message)], hint="e.g. ?window=30s")


async def _to_page(request: Request) -> Response:
    return RedirectResponse("/dashboard/", status_code=308)


async def _page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_SECURE_HEADERS)


async def _favicon(request: Request) -> Response:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers=_SECURE_HEADERS)


async def _static(request: Request) -> Response:
    wanted = (STATIC / request.path_params["file"]).resolve()
    if not wanted.is_relative_to(STATIC.resolve()) or not wanted.is_file() or wanted.suffix not in _TYPES:
        message = f"no dashboard file {request.path_params['file']!r}"
        return errors.error_response(404, message, [errors.problem(errors.NOT_FOUND.code, message)])
    return FileResponse(wanted, media_type=_TYPES[wanted.suffix], headers=_SECURE_HEADERS)


async def _events(graphs: AsyncIterator[dict[str, Any] | None]) -> AsyncIterator[bytes]:
    yield b": graph\n\n"
    async for graph in graphs:
        yield b": heartbeat\n\n" if graph is None else f"data: {json.dumps(graph)}\n\n".encode()
