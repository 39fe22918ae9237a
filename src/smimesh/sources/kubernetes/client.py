"""A small async Kubernetes API client on httpx (why not a client library: docs/dependencies.md).

Owns `KubeClient(config)`: `get/list_objects/create/replace/patch/delete` on API paths, `watch(path,
params)` yielding each watch event as a dict, `token_review(token, audiences)`. Every error answer is
raised as `KubeApiError(code, reason, message)` from the Status body; `Gone` is the 410 subclass (the
informer relists on it). Transport failures stay `httpx.HTTPError`s (the caller backs off).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from smimesh.sources.kubernetes.kubeconfig import ClusterConfig

Obj = dict[str, Any]


class KubeApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


class Gone(KubeApiError):
    """410: the resourceVersion asked for is older than the server keeps."""


def error_from(code: int, body: Any) -> KubeApiError:
    status = body if isinstance(body, Mapping) else {}
    reason, message = str(status.get("reason", "")), str(status.get("message", body))
    return (Gone if code == 410 else KubeApiError)(code, reason, message)


class KubeClient:
    """See the module docstring. One per control plane; `aclose()` when done."""

    def __init__(self, config: ClusterConfig, *, timeout: float = 30.0) -> None:
        self.config = config
        self._http = httpx.AsyncClient(
            base_url=config.server, verify=config.verify(), timeout=httpx.Timeout(timeout, read=None)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        token = self.config.bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        content = json.dumps(body).encode() if body is not None else None
        response = await self._http.request(
            method, path, content=content, params=params, headers=self._headers(content_type)
        )
        data = _json_or_text(response)
        if response.status_code >= 400:
            raise error_from(response.status_code, data)
        return data if isinstance(data, dict) else {}

    async def get(self, path: str) -> Obj:
        return await self.request("GET", path)

    async def list_objects(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, obj: Obj) -> Obj:
        return await self.request("POST", path, body=obj)

    async def replace(self, path: str, obj: Obj) -> Obj:
        return await self.request("PUT", path, body=obj)

    async def patch(self, path: str, patch: Obj) -> Obj:
        return await self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    async def delete(self, path: str) -> Obj:
        return await self.request("DELETE", path)

    async def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[Obj]:
        """Each event of one watch request, until the server ends it."""
        query = {**params, "watch": "1"}
        async with self._http.stream("GET", path, params=query, headers=self._headers()) as response:
            if response.status_code >= 400:
                raise error_from(response.status_code, _json_or_text(response, await response.aread()))
            async for line in response.aiter_lines():
                if line.strip():
                    yield json.loads(line)

    async def token_review(self, token: str, audiences: list[str]) -> Obj:
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": audiences},
        }
        answer = await self.create("/apis/authentication.k8s.io/v1/tokenreviews", review)
        return dict(answer.get("status") or {})


def _json_or_text(response: httpx.Response, raw: bytes | None = None) -> Any:
    content = raw if raw is not None else response.content
    try:
        return json.loads(content) if content else {}
    except ValueError:
        return content.decode(errors="replace")
