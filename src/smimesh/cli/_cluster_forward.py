"""`smimesh dashboard --kubeconfig`: a controller's page, served on a loopback port of this machine.

A browser has none of the kubeconfig's credentials, and the page calls the API at absolute paths
(`/api/v1/graph/stream`, `/api/v1/tap`, ...). So, as `kubectl proxy` and `linkerd viz dashboard`
do, the command listens on 127.0.0.1 and forwards every GET, streamed (server-sent events pass as
they come), to the controller's API through the API server's service proxy (`cli/_cluster.py`),
with the kubeconfig's credentials: the API server authenticates the user and checks RBAC
(`services/proxy`). Reads only: anything but GET is refused here (405). While it runs, any local
user can read the mesh through it, as through `kubectl proxy`; Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from smimesh.api.serve import ApiServer
from smimesh.cli._cluster import ControllerApi

# Response headers passed to the browser (the page's security headers included); hop-by-hop and
# length headers are the local server's business.
PASSED = ("content-type", "cache-control", "content-security-policy", "x-content-type-options", "location")


def forwarding_app(api: ControllerApi, client: httpx.AsyncClient) -> Starlette:
    auth = {"Authorization": f"Bearer {api.token}"} if api.token else {}

    async def forward(request: Request) -> Response:
        if request.method != "GET":
            return PlainTextResponse("read only: smimesh dashboard forwards GET requests only\n", 405)
        headers = {**auth, **({"Accept": request.headers["accept"]} if "accept" in request.headers else {})}
        outgoing = client.build_request(
            "GET", api.base_url + request.url.path, params=request.query_params, headers=headers
        )
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            return PlainTextResponse(f"the API server does not answer: {exc}\n", 502)
        kept = {k: v for k, v in answer.headers.items() if k.lower() in PASSED}
        return StreamingResponse(_body(answer), answer.status_code, headers=kept)

    routes = [Route("/{path:path}", forward, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
    return Starlette(routes=routes)


async def _body(answer: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    finally:
        await answer.aclose()


async def forward_until_stopped(api: ControllerApi, port: int, started: Callable[[int], None]) -> None:
    """Serve on 127.0.0.1:`port` (0: any free port), tell `started` the port, run until cancelled."""
    timeout = httpx.Timeout(10.0, read=None)  # streams (tap, the graph's events) have no end
    async with httpx.AsyncClient(verify=api.verify, timeout=timeout, trust_env=False) as client:
        server = ApiServer(forwarding_app(api, client), f"127.0.0.1:{port}")
        started(await server.start())
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()
