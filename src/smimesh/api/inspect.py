"""Handlers that look at the running mesh: status, proxy sync state, a sidecar's config, metrics.

`/api/v1/proxies/{name}/config?type=listeners|clusters|routes|endpoints|secrets|bootstrap` asks the
sidecar's own Envoy admin endpoint (`/config_dump?include_eds`) — the config as Envoy holds it,
not as the control plane thinks it sent it — and keeps the config_dump sections of that type.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from smimesh.api import errors

if TYPE_CHECKING:
    from smimesh.api.app import ApiContext

# config_dump section types, by the names `smimesh proxy-config --type` takes.
DUMP_TYPES = {
    "bootstrap": "BootstrapConfigDump",
    "listeners": "ListenersConfigDump",
    "clusters": "ClustersConfigDump",
    "routes": "RoutesConfigDump",
    "endpoints": "EndpointsConfigDump",
    "secrets": "SecretsConfigDump",
}
ADMIN_TIMEOUT_S = 5.0
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def status(request: Request) -> Response:
    ctx = _ctx(request)
    items = ctx.store.items()
    by_origin = Counter("api" if s.origin == "api" else "files" for s in items)
    body: dict[str, Any] = {
        "resources": {"total": len(items), "from_files": by_origin["files"], "from_api": by_origin["api"]},
        "generation": ctx.store.generation,
    }
    if ctx.status is not None:
        body.update(ctx.status())
    return JSONResponse(body)


async def proxies(request: Request) -> Response:
    ctx = _ctx(request)
    rows = ctx.sync_state.rows() if ctx.sync_state is not None else []
    return JSONResponse({"proxies": rows})


async def metrics(request: Request) -> Response:
    ctx = _ctx(request)
    text = ctx.metrics_text() if ctx.metrics_text is not None else ""
    return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)


async def proxy_config(request: Request) -> Response:
    ctx = _ctx(request)
    name = request.path_params["name"]
    wanted = request.query_params.get("type") or None
    if wanted is not None and wanted not in DUMP_TYPES:
        message = f"unknown config type {wanted!r}"
        hint = f"one of: {', '.join(DUMP_TYPES)}"
        return errors.error_response(
            400, message, [errors.problem(errors.NOT_FOUND.code, message)], hint=hint
        )
    address = ctx.proxy_admin(name) if ctx.proxy_admin is not None else None
    if address is None:
        message = f"no sidecar named {name!r}"
        hint = "`smimesh status` lists workloads and instances"
        return errors.error_response(
            404, message, [errors.problem(errors.NOT_FOUND.code, message)], hint=hint
        )
    dump = await fetch_config_dump(address)
    if isinstance(dump, Response):
        return dump
    return JSONResponse({"proxy": name, "admin": address, "type": wanted, "config": only(dump, wanted)})


async def fetch_config_dump(address: str) -> dict[str, Any] | Response:
    url = f"http://{address}/config_dump?include_eds"
    try:
        async with httpx.AsyncClient(timeout=ADMIN_TIMEOUT_S, trust_env=False) as client:
            answer = await client.get(url)
        answer.raise_for_status()
        dump: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        message = f"cannot read the sidecar's config at {address}: {exc}"
        return errors.error_response(502, message, [errors.problem(errors.PROXY_UNREACHABLE.code, message)])
    return dump


def only(dump: dict[str, Any], wanted: str | None) -> dict[str, Any]:
    """The config_dump reduced to the sections of one type (all of it if `wanted` is None)."""
    if wanted is None:
        return dump
    suffix = "." + DUMP_TYPES[wanted]
    return {"configs": [c for c in dump.get("configs", []) if str(c.get("@type", "")).endswith(suffix)]}
