"""`/api/v1/canaries`: the canary controller's view and its commands (issue 14).

    GET  /api/v1/canaries[?namespace=NS]            every Canary with its status and recent events
    GET  /api/v1/canaries/{namespace}/{name}        one (404 if no such Canary)
    POST /api/v1/canaries/{namespace}/{name}/{action}   promote | abort | retry | pause | resume |
                                                    set-weight (body {"weight": N}); a write (token)

The runtime passes a `CanariesLike` (`runtime.canary.controller.CanaryController`). A command the
canary cannot take in its phase answers 409 with the hint (SM7310).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smimesh.api import errors
from smimesh.diagnostics import Severity, register
from smimesh.errors import SmimeshError

if TYPE_CHECKING:
    from smimesh.api.app import ApiContext

ACTIONS = ("promote", "abort", "retry", "pause", "resume", "set-weight")
CANARY_COMMAND = register(
    "SM7310",
    "canary command refused",
    Severity.ERROR,
    """`smimesh canary ACTION NAME` asked for something the canary cannot do in its phase (for
    example promote a canary whose analysis is not running, or retry one that did not fail), or named
    an unknown action or weight. The message says the phase; the hint says when the action applies.""",
)


class CanariesLike(Protocol):
    def list(self, namespace: str | None = None) -> list[dict[str, Any]]: ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def command(
        self, namespace: str, name: str, action: str, weight: int | None = None
    ) -> dict[str, Any]: ...


def _controller(request: Request) -> CanariesLike | None:
    ctx: ApiContext = request.app.state.ctx
    return ctx.canaries


def _absent(what: str) -> Response:
    return errors.error_response(404, what, [errors.problem(errors.NOT_FOUND.code, what)])


async def list_canaries(request: Request) -> Response:
    controller = _controller(request)
    if controller is None:
        return _absent("this control plane runs no canary controller")
    return JSONResponse({"items": controller.list(request.query_params.get("namespace") or None)})


async def get_canary(request: Request) -> Response:
    controller, params = _controller(request), request.path_params
    found = controller.get(params["namespace"], params["name"]) if controller else None
    if found is None:
        return _absent(f"no Canary {params['namespace']}/{params['name']}")
    return JSONResponse(found)


async def command(request: Request) -> Response:
    controller, params = _controller(request), request.path_params
    if controller is None:
        return _absent("this control plane runs no canary controller")
    action = params["action"]
    try:
        weight = await _weight(request, action)
        return JSONResponse(await controller.command(params["namespace"], params["name"], action, weight))
    except KeyError:
        return _absent(f"no Canary {params['namespace']}/{params['name']}")
    except SmimeshError as error:
        problem = errors.problem(CANARY_COMMAND.code, error.message, hint=error.hint)
        return errors.error_response(409, error.message, [problem], hint=error.hint)


async def _weight(request: Request, action: str) -> int | None:
    if action not in ACTIONS:
        raise SmimeshError(f"unknown canary action {action!r}", hint="actions: " + ", ".join(ACTIONS))
    if action != "set-weight":
        return None
    try:
        weight = json.loads(await request.body() or b"{}").get("weight")
    except (ValueError, AttributeError):
        weight = None
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise SmimeshError(f"weight {weight!r} is not a percentage", hint='send {"weight": N}, N in 0-100')
    return weight
