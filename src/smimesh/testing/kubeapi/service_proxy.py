"""The API server's service proxy: `/api/v1/namespaces/NS/services/[SCHEME:]NAME[:PORT]/proxy/PATH`.

kube-apiserver forwards such a request to one endpoint of the Service's named port; `smimesh status`,
`get`, `top` ... reach the controller's API this way on a cluster. Here a test says where a Service
port's calls go (`KubeApiServer.route_proxy(ns, name, port, "127.0.0.1:N")`, as its endpoints would):
no EndpointSlice lookup, no RBAC (`services/proxy`), GET only, and `https:` dials without checking
the backend's certificate (as kube-apiserver does for the service proxy). The answer is streamed as it
comes (a tap or server-sent events pass through, as kube-apiserver's proxy flushes them), with its
content and security headers; the request's `Accept` is passed on. kube-apiserver's rewriting of
absolute links in HTML answers is not done.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from smimesh.testing.kubeapi.objects import ApiError

PROXY_PATH = "/api/v1/namespaces/{namespace}/services/{service}/proxy/{rest:path}"


def _split(service: str) -> tuple[str, str, str]:
    """`https:name:port` -> ("https", "name", "port"); `name:port` -> ("http", "name", "port")."""
    parts = service.split(":")
    scheme = parts.pop(0) if len(parts) == 3 else "http"
    return scheme, parts[0], parts[1] if len(parts) > 1 else ""


class ServiceProxy:
    """See the module docstring."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def route(self, namespace: str, name: str, port: str, address: str) -> None:
        with self._lock:
            self._routes[(namespace, name, port)] = address

    def _address(self, namespace: str, name: str, port: str) -> str:
        with self._lock:
            address = self._routes.get((namespace, name, port))
        if address is None:
            message = f'no endpoints available for service "{name}:{port}" in namespace "{namespace}"'
            raise ApiError(503, "ServiceUnavailable", message)
        return address

    async def forward(self, request: Request) -> Response:
        params = request.path_params
        scheme, name, port = _split(params["service"])
        address = self._address(params["namespace"], name, port)
        url = f"{scheme}://{address}/{params['rest']}"
        client = httpx.AsyncClient(verify=False, timeout=httpx.Timeout(30, read=None), trust_env=False)
        accept = {"Accept": request.headers["accept"]} if "accept" in request.headers else {}
        try:
            answer = await client.send(
                client.build_request("GET", url, params=request.query_params, headers=accept), stream=True
            )
        except httpx.HTTPError as exc:
            await client.aclose()
            raise ApiError(503, "ServiceUnavailable", f"error trying to reach service: {exc}") from None
        kept = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED}
        return StreamingResponse(_body(answer, client), answer.status_code, headers=kept)


_PASSED = ("content-type", "cache-control", "content-security-policy", "x-content-type-options", "location")


async def _body(answer: httpx.Response, client: httpx.AsyncClient) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    finally:
        await answer.aclose()
        await client.aclose()
