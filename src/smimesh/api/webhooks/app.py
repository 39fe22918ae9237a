"""The webhook HTTP app: `POST /convert` (ConversionReview), `POST /validate` (AdmissionReview),
`POST /mutate` (pod sidecar injection, AdmissionReview), `GET /healthz`, `/readyz`, `/status`. Bodies that
are not JSON objects get 400; review logic never raises."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from smimesh.api.webhooks import admission, conversion, mutate
from smimesh.pods.inject import InjectConfig

Review = Callable[[Mapping[str, Any]], dict[str, Any]]


def _endpoint(answer: Review) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("the body is not JSON", 400)
        if not isinstance(body, dict):
            return PlainTextResponse("the body must be a JSON object (a review)", 400)
        return JSONResponse(answer(body))

    return handle


def create_webhook_app(
    *,
    ready: Callable[[], bool] | None = None,
    status: Callable[[], dict[str, Any]] | None = None,
    inject: InjectConfig | None = None,
) -> Starlette:
    """`ready()` answers `/readyz` (503 until true: the Deployment's readiness probe); `status()` is
    `/status` (JSON, what `smimesh check` reads from each replica); `inject` configures `/mutate`."""
    inject_config = inject or InjectConfig()

    def readyz(request: Request) -> Response:
        return PlainTextResponse("ok") if ready is None or ready() else PlainTextResponse("not synced", 503)

    def state(request: Request) -> Response:
        return JSONResponse(status() if status is not None else {})

    return Starlette(
        routes=[
            Route("/readyz", readyz),
            Route("/status", state),
            Route("/convert", _endpoint(conversion.review), methods=["POST"]),
            Route("/validate", _endpoint(admission.review), methods=["POST"]),
            Route("/mutate", _endpoint(lambda body: mutate.review(body, inject_config)), methods=["POST"]),
            Route("/healthz", lambda request: PlainTextResponse("ok")),
        ]
    )
