"""The control plane's HTTP API: a Starlette app served by uvicorn in the control plane's loop.

`create_app(store, *, token, ...)` wires the routes; the handlers live in `resources.py` (apply,
get, delete), `inspect.py` (status, proxies, proxy config, metrics) and `explain.py` (`smimesh
explain` on the model in force). Every path is versioned
under `/api/v1/` and answers JSON (except `/metrics`, Prometheus text).

Who may do what:
  * writes (apply, delete) always need `Authorization: Bearer <token>` (401 if missing, 403 if
    wrong) — the token is in the run directory, readable by the user who ran `smimesh up` only;
  * reads from loopback are open: the API binds to 127.0.0.1 by default, config is not secret
    (Envoy redacts private keys from config dumps) and `/metrics` must be scrapable without
    credentials; a read from any other address (the API bound elsewhere) needs the token too,
    except on a cluster controller (`reads_from_anywhere`: the service proxy's calls).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from smimesh.api import canaries as canary_routes
from smimesh.api import errors, inspect, resources
from smimesh.api import explain as explain_routes
from smimesh.api.auth import token_matches
from smimesh.api.metrics_routes import PREFIX as METRICS_PREFIX
from smimesh.api.metrics_routes import MetricsQueryLike
from smimesh.api.metrics_routes import routes as metrics_routes
from smimesh.api.observe import ObserveLike
from smimesh.api.observe import routes as observe_routes
from smimesh.api.openapi import openapi_document
from smimesh.api.protocols import DeliveryLike, StoreLike, SyncStateLike
from smimesh.mesh.explain_query import ExplainQuery
from smimesh.settings import Settings

log = logging.getLogger(__name__)
LOOPBACK_CLIENTS = frozenset({"127.0.0.1", "::1", "localhost"})
Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class ApiContext:
    """Everything the handlers read; kept in `app.state.ctx`."""

    store: StoreLike
    token: str
    settings: Settings
    sync_state: SyncStateLike | None = None
    metrics_text: Callable[[], str] | None = None
    status: Callable[[], dict[str, Any]] | None = None
    proxy_admin: Callable[[str], str | None] | None = None
    explain: Callable[[ExplainQuery], dict[str, Any]] | None = None
    delivery: DeliveryLike | None = None
    canaries: canary_routes.CanariesLike | None = None
    reads_from_anywhere: bool = False


def create_app(
    store: StoreLike,
    *,
    token: str,
    sync_state: SyncStateLike | None = None,
    metrics_text: Callable[[], str] | None = None,
    status: Callable[[], dict[str, Any]] | None = None,
    proxy_admin: Callable[[str], str | None] | None = None,
    settings: Settings | None = None,
    metrics_query: MetricsQueryLike | None = None,
    explain: Callable[[ExplainQuery], dict[str, Any]] | None = None,
    delivery: DeliveryLike | None = None,
    observe: ObserveLike | None = None,
    canaries: canary_routes.CanariesLike | None = None,
    reads_from_anywhere: bool = False,
) -> Starlette:
    """The API app. `proxy_admin(name)` maps a workload or instance name to its sidecar's admin address;
    `metrics_query` (a `telemetry.query.MetricsQuery`) adds the SMI metrics paths (`metrics_routes`);
    `explain(query)` answers `/api/v1/explain` (UsageError for a query the mesh cannot resolve);
    `delivery` lets `POST /api/v1/apply?wait=SECONDS` report whether the sidecars took the change;
    `canaries` (the canary controller) serves `/api/v1/canaries` (`api/canaries.py`);
    `reads_from_anywhere`: reads need no token from any address (a cluster controller, whose reads
    come through the API server's service proxy, which has authenticated and authorized the user)."""
    ctx = ApiContext(
        store,
        token,
        settings or Settings(),
        sync_state,
        metrics_text,
        status,
        proxy_admin,
        explain,
        delivery,
        canaries=canaries,
        reads_from_anywhere=reads_from_anywhere,
    )
    routes: list[BaseRoute] = [
        Route("/healthz", _open(healthz)),
        Route("/metrics", _guard(inspect.metrics, write=False)),
        Route("/api/v1/openapi.json", _open(openapi)),
        Route("/api/v1/apply", _guard(resources.apply, write=True), methods=["POST"]),
        Route("/api/v1/resources", _guard(resources.list_all, write=False)),
        Route("/api/v1/resources/{kind}", _guard(resources.list_kind, write=False)),
        Route("/api/v1/resources/{kind}/{namespace}/{name}", _guard(resources.get_one, write=False)),
        Route(
            "/api/v1/resources/{kind}/{namespace}/{name}",
            _guard(resources.delete_one, write=True),
            methods=["DELETE"],
        ),
        Route("/api/v1/status", _guard(inspect.status, write=False)),
        Route("/api/v1/proxies", _guard(inspect.proxies, write=False)),
        Route("/api/v1/proxies/{name}/config", _guard(inspect.proxy_config, write=False)),
        Route("/api/v1/explain", _guard(explain_routes.explain, write=False)),
        Route("/api/v1/canaries", _guard(canary_routes.list_canaries, write=False)),
        Route("/api/v1/canaries/{namespace}/{name}", _guard(canary_routes.get_canary, write=False)),
        Route(
            "/api/v1/canaries/{namespace}/{name}/{action}",
            _guard(canary_routes.command, write=True),
            methods=["POST"],
        ),
    ]
    if metrics_query is not None:
        window = ctx.settings.metrics_max_window_s
        routes += metrics_routes(metrics_query, max_window_s=window, guard=lambda h: _guard(h, write=False))
    if observe is not None:  # tap, per-route metrics, observed calls, policy suggest (api/observe.py)
        window = ctx.settings.metrics_max_window_s
        routes += observe_routes(observe, max_window_s=window, guard=lambda h: _guard(h, write=False))
    handlers = {HTTPException: _http_error, Exception: _internal_error}
    app = Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]
    app.state.ctx = ctx
    return app


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def openapi(request: Request) -> Response:
    serves_metrics = any(
        getattr(route, "path", "").startswith(METRICS_PREFIX) for route in request.app.routes
    )
    return JSONResponse(openapi_document(metrics=serves_metrics))


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Unknown paths and methods answer in the API's one error shape too."""
    return errors.error_response(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("API request %s %s failed", request.method, request.url.path)
    return errors.error_response(500, "the control plane failed on this request (see its log)")


def _open(handler: Handler) -> Handler:
    return handler


def _guard(handler: Handler, *, write: bool) -> Handler:
    """Wrap `handler` with the token check (see the module docstring for the rule)."""

    async def guarded(request: Request) -> Response:
        refusal = check_token(request, write=write)
        return refusal if refusal is not None else await handler(request)

    guarded.__name__ = handler.__name__
    return guarded


def check_token(request: Request, *, write: bool) -> Response | None:
    ctx: ApiContext = request.app.state.ctx
    client = request.client.host if request.client else ""
    if not write and (client in LOOPBACK_CLIENTS or ctx.reads_from_anywhere):
        return None
    presented = _bearer(request.headers.get("authorization", ""))
    if presented is None:
        diagnostic = errors.problem(errors.TOKEN_MISSING.code, "this request needs the API token")
        return errors.error_response(
            401,
            "missing API token",
            [diagnostic],
            hint=errors.TOKEN_MISSING.explanation,
            headers={"WWW-Authenticate": 'Bearer realm="smimesh"'},
        )
    if not token_matches(presented, ctx.token):
        diagnostic = errors.problem(errors.TOKEN_WRONG.code, "the API token does not match")
        return errors.error_response(
            403, "wrong API token", [diagnostic], hint=errors.TOKEN_WRONG.explanation
        )
    return None


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
