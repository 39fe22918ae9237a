"""Running the test API server: in a thread with its own event loop, on a dynamic loopback port.

`with KubeApiServer() as api:` serves `api.url` (plain HTTP on 127.0.0.1); `api.write_kubeconfig(path)`
writes a kubeconfig for kubectl and for smimesh's client. Test controls: `api.client()` (a sync httpx
client), `create/get/delete` shortcuts, `compact()` (a watch from an older resourceVersion is then 410
Gone), `cut_watches()`, `down()`/`up()` (stop listening and come back on the same port),
`issue_token(...)`, `route_service(ns, name, "127.0.0.1:port")` (where a webhook Service's calls go),
`route_proxy(ns, name, port_name, "127.0.0.1:port")` (where the service proxy sends that port),
`faults["tokenreviews"] = 500` (answer a path with an error), `restrict_user(token, user, rules)` (that
token's user may do only `rules`, e.g. "get pods": `authz.py`), `dial_pods(fn)` (where `pods/portforward`
connects: `portforward.py`; default the pod's port on this machine's loopback).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from smimesh.api.serve import ApiServer
from smimesh.testing.kubeapi.app import KubeApi
from smimesh.testing.kubeapi.catalog import Catalog
from smimesh.testing.kubeapi.portforward import Dialer


class KubeApiServer:
    """See the module docstring."""

    def __init__(self, *, bookmark_interval: float = 1.0) -> None:
        self.api = KubeApi(bookmark_interval=bookmark_interval)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ApiServer | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kubeapi-test", daemon=True)
        self._error: BaseException | None = None
        self.port = 0

    # ---- lifetime -------------------------------------------------------------------------------

    def __enter__(self) -> KubeApiServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self.api.store.cut_watches()
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to __enter__
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self._listen()
        self._ready.set()
        await self._stop.wait()
        if self._server is not None:
            await self._server.stop()

    async def _listen(self) -> None:
        self._server = ApiServer(self.api.app(), f"127.0.0.1:{self.port}")
        self.port = await self._server.start()

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    def down(self) -> None:
        """Stop answering (open watches are cut, new connections refused) until `up()`."""
        self.api.faults[""] = 503  # no new watch may start while the listener shuts down
        self.api.store.cut_watches()
        server, self._server = self._server, None
        if server is not None:
            self._call(server.stop())

    def up(self) -> None:
        self._call(self._listen())
        self.api.faults.pop("", None)

    # ---- addresses ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, *, namespace: str = "default", token: str = "") -> Path:
        user: dict[str, Any] = {"token": token} if token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": user}],
            "contexts": [
                {"name": "test", "context": {"cluster": "test", "user": "test", "namespace": namespace}}
            ],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # ---- test controls --------------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        return self.api.catalog

    @property
    def faults(self) -> dict[str, int]:
        return self.api.faults

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def compact(self) -> int:
        return self.api.store.compact()

    def cut_watches(self) -> int:
        return self.api.store.cut_watches()

    def issue_token(
        self,
        namespace: str,
        service_account: str,
        *,
        pod: str | None = None,
        audiences: Sequence[str] = ("smimesh",),
        expires_in: float = 3600.0,
    ) -> str:
        return self.api.tokens.issue(
            namespace, service_account, pod=pod, audiences=audiences, expires_in=expires_in
        )

    def route_service(self, namespace: str, name: str, address: str) -> None:
        self.api.webhooks.route_service(namespace, name, address)

    def route_proxy(self, namespace: str, name: str, port: str, address: str) -> None:
        self.api.proxy.route(namespace, name, port, address)

    def restrict_user(self, token: str, user: str, rules: Sequence[str]) -> None:
        self.api.authz.restrict_user(token, user, rules)

    def dial_pods(self, dial: Dialer) -> None:
        self.api.portforward.dial = dial

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """POST `obj` to its collection (raises for an error answer)."""
        with self.client() as client:
            response = client.post(collection_path(self.catalog, obj), json=obj)
        response.raise_for_status()
        return dict(response.json())

    def delete(self, obj: dict[str, Any]) -> None:
        path = f"{collection_path(self.catalog, obj)}/{obj['metadata']['name']}"
        with self.client() as client:
            client.delete(path).raise_for_status()

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        path = f"{collection_path(self.catalog, obj)}/{obj['metadata']['name']}"
        with self.client() as client:
            response = client.put(path, json=obj)
        response.raise_for_status()
        return dict(response.json())


def collection_path(catalog: Catalog, obj: dict[str, Any]) -> str:
    """The URL path of the collection `obj` belongs to (from its apiVersion, kind and namespace)."""
    rtype = catalog.by_kind(obj["apiVersion"], obj["kind"])
    if rtype is None:
        raise LookupError(f"no resource serves {obj['apiVersion']} {obj['kind']}")
    base = f"/apis/{obj['apiVersion']}" if rtype.group else f"/api/{obj['apiVersion']}"
    if rtype.namespaced:
        base += f"/namespaces/{obj['metadata'].get('namespace', 'default')}"
    return f"{base}/{rtype.plural}"
