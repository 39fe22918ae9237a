"""The CLI's HTTP client of a running control plane (httpx, synchronous).

Every failure becomes a `SmimeshError` the CLI prints as one message: nothing listening →
`ControlPlaneUnavailableError` ("no control plane at ADDR — start one with `smimesh up DIR`"),
an error answer → `ApiError` with the API's diagnostics. The token comes from `--token`, else
`SMIMESH_TOKEN`, else the per-user context file `smimesh up` registered (see auth.py).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from smimesh.api.auth import find_token
from smimesh.api.errors import diagnostic_from_dict
from smimesh.errors import ApiError, ControlPlaneUnavailableError
from smimesh.settings import Settings

TIMEOUT_S = 10.0


def default_api_addr() -> str:
    return os.environ.get("SMIMESH_API_ADDR") or Settings().api_addr


class ApiClient:
    """Calls of the `/api/v1` paths; `token=None` finds it (env, then context file)."""

    def __init__(
        self,
        api_addr: str | None = None,
        *,
        token: str | None = None,
        timeout: float = TIMEOUT_S,
        base_url: str | None = None,
        verify: ssl.SSLContext | bool = True,
        unreachable: str = "start one with `smimesh up DIR`",
    ):
        """`base_url` (with `token` and `verify` as the kubeconfig says) reaches the API somewhere else
        than `http://api_addr`: through a Kubernetes API server's service proxy (cli/_cluster.py);
        `unreachable` is what to do when nothing answers."""
        self._unreachable = unreachable
        self.api_addr = (api_addr or default_api_addr()).removeprefix("http://").rstrip("/")
        if base_url is None:
            token = token or os.environ.get("SMIMESH_TOKEN") or find_token(self.api_addr)
        self._token = token
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        self._http = httpx.Client(
            base_url=base_url or f"http://{self.api_addr}",
            headers=headers,
            timeout=timeout,
            trust_env=False,
            verify=verify,
        )

    @property
    def token(self) -> str | None:
        """The token this client sends (found like the CLI finds it), for `smimesh dashboard`'s page."""
        return self._token

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- calls ----------------------------------------------------------------------------

    def apply(self, text: str, *, wait_s: float = 0.0) -> dict[str, Any]:
        """Apply; with `wait_s`, the answer also says whether the sidecars took it (`delivery`)."""
        headers = {"Content-Type": "application/yaml"}
        params = {"wait": f"{wait_s:g}"} if wait_s else None
        body, timeout = text.encode("utf-8"), TIMEOUT_S + wait_s
        path = "/api/v1/apply"
        return self._call("POST", path, content=body, headers=headers, params=params, timeout=timeout)

    def resources(self, kind: str | None = None, namespace: str | None = None) -> list[dict[str, Any]]:
        path = "/api/v1/resources" + (f"/{quote(kind, safe='')}" if kind else "")
        params = {"namespace": namespace} if namespace else None
        items: list[dict[str, Any]] = self._call("GET", path, params=params)["items"]
        return items

    def resource(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self._call("GET", _object_path(kind, namespace, name))

    def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self._call("DELETE", _object_path(kind, namespace, name))

    def status(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/status")

    def proxies(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._call("GET", "/api/v1/proxies")["proxies"]
        return rows

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET any path of the API (e.g. the SMI metrics paths) and return its JSON object; errors as
        for every call (ControlPlaneUnavailableError, ApiError)."""
        return self._call("GET", path, params=params)

    def explain(self, query: dict[str, Any]) -> dict[str, Any]:
        """`GET /api/v1/explain` with the query parameters (`header` may be a list)."""
        return self._call("GET", "/api/v1/explain", params=query)

    def proxy_config(self, name: str, config_type: str | None = None) -> dict[str, Any]:
        params = {"type": config_type} if config_type else None
        return self._call("GET", f"/api/v1/proxies/{quote(name, safe='')}/config", params=params)

    def stream_lines(self, path: str, params: dict[str, Any] | None = None) -> Iterator[str]:
        """GET a streaming path (`/api/v1/tap`) and yield its lines as they come (no read timeout)."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream("GET", path, params=params, timeout=timeout) as answer:
                if answer.is_error:
                    answer.read()
                    raise _api_error(answer.status_code, _json(answer))
                yield from answer.iter_lines()
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc

    def canaries(self, namespace: str | None = None) -> list[dict[str, Any]]:
        params = {"namespace": namespace} if namespace else None
        items: list[dict[str, Any]] = self._call("GET", "/api/v1/canaries", params=params)["items"]
        return items

    def canary_command(
        self, namespace: str, name: str, action: str, weight: int | None = None
    ) -> dict[str, Any]:
        path = "/".join(quote(part, safe="") for part in (namespace, name, action))
        body = {"weight": weight} if weight is not None else {}
        return self._call("POST", f"/api/v1/canaries/{path}", json=body)

    # ---- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unavailable(exc) from exc
        body = _json(answer)
        if answer.is_error:
            raise _api_error(answer.status_code, body)
        return body

    def _unavailable(self, exc: httpx.TransportError) -> ControlPlaneUnavailableError:
        if isinstance(exc, httpx.TimeoutException):
            return ControlPlaneUnavailableError(
                f"the control plane at {self.api_addr} did not answer in time"
            )
        return ControlPlaneUnavailableError(f"no control plane at {self.api_addr} — {self._unreachable}")


def _object_path(kind: str, namespace: str, name: str) -> str:
    parts = (quote(part, safe="") for part in (kind, namespace, name))
    return "/api/v1/resources/" + "/".join(parts)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"error": {"message": answer.text[:200]}}


def _api_error(status: int, body: dict[str, Any]) -> ApiError:
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    found = [diagnostic_from_dict(d) for d in body.get("diagnostics", []) if isinstance(d, dict)]
    # SM73xx are about the request itself and say what the message already says: not repeated.
    diagnostics = [d for d in found if not d.code.startswith("SM73")]
    # A Kubernetes Status (the service proxy's own refusals) says it in `message`.
    message = str(error.get("message") or body.get("message") or f"the control plane answered {status}")
    return ApiError(message, status=status, diagnostics=diagnostics, hint=str(error.get("hint") or ""))
