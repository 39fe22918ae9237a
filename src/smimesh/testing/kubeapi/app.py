"""The HTTP face of the test API server: Kubernetes API paths, verbs, watch streams and errors.

Owns `KubeApi` (the state: catalog, objects, tokens, webhooks, fault injection) and its Starlette app.
Request flow for a write, as kube-apiserver orders what clients can observe: path and body checks ->
validating admission webhooks (object in the version written) -> conversion to the storage version
(CRDs: the conversion webhook) -> storage with a new resourceVersion -> watchers -> the answer in the
version asked for. Reads of another version than the stored one go through the conversion webhook.
What it does not do is listed in docs/kubernetes.md ("The test API server").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from smimesh.testing.kubeapi import catalog as cat
from smimesh.testing.kubeapi import openapi, pruning
from smimesh.testing.kubeapi.authz import Access, Authorizer, verb_of
from smimesh.testing.kubeapi.objects import ApiError, Key, Obj, ObjectStore, Watcher, not_found, status_object
from smimesh.testing.kubeapi.patches import json_patch, merge_patch
from smimesh.testing.kubeapi.paths import ApiPath, parse
from smimesh.testing.kubeapi.portforward import PORTFORWARD_PATH, PortForwarder
from smimesh.testing.kubeapi.selectors import SelectorError, field_selector, label_selector
from smimesh.testing.kubeapi.service_proxy import PROXY_PATH, ServiceProxy
from smimesh.testing.kubeapi.tokens import TokenIssuer
from smimesh.testing.kubeapi.webhooks import AdmissionRequest, WebhookCaller

VERSION = {"major": "1", "minor": "29", "gitVersion": "v1.29.0-smimesh-test", "platform": "linux/amd64"}
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")


def _json(data: Any, status: int = 200, warnings: list[str] | None = None) -> Response:
    headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else None
    return Response(json.dumps(data), status, headers=headers, media_type="application/json")


class KubeApi:
    """State and handlers of one test API server (see the package docstring for the test-facing API)."""

    def __init__(self, bookmark_interval: float = 1.0) -> None:
        self.catalog = cat.Catalog()
        self.store = ObjectStore()
        self.webhooks = WebhookCaller()
        self.tokens = TokenIssuer(self._pod_uid)
        self.proxy = ServiceProxy()
        self.faults: dict[str, int] = {}  # path substring -> HTTP status answered instead
        self.authz = Authorizer()
        self.portforward = PortForwarder(self.store, self.authz, self._check_faults)
        self.bookmark_interval = bookmark_interval
        for name in DEFAULT_NAMESPACES:
            self.store.create(
                ("namespaces", "", name),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )

    def _pod_uid(self, namespace: str, name: str) -> str | None:
        pod = self.store.get(("pods", namespace, name))
        return pod["metadata"]["uid"] if pod else None

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        ns = self.store.get(("namespaces", "", name)) or {}
        return dict((ns.get("metadata") or {}).get("labels") or {})

    def app(self) -> Starlette:
        routes = [
            Route("/version", lambda r: JSONResponse(VERSION)),
            Route("/healthz", lambda r: Response("ok")),
            Route("/readyz", lambda r: Response("ok")),
            Route("/livez", lambda r: Response("ok")),
            Route("/openapi/v3", lambda r: JSONResponse(openapi.root(self.catalog))),
            Route("/openapi/v3/{gv:path}", self._openapi),
            Route("/api", lambda r: JSONResponse(cat.api_versions())),
            Route(PROXY_PATH, self._proxy),
            WebSocketRoute(PORTFORWARD_PATH, self.portforward.serve),
            Route("/apis", lambda r: JSONResponse(cat.group_list(self.catalog))),
            Route("/api/{rest:path}", self._core, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/apis/{rest:path}", self._groups, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
        return Starlette(routes=routes)

    async def _openapi(self, request: Request) -> Response:
        found = openapi.group_version(self.catalog, request.path_params["gv"])
        return (
            JSONResponse(found) if found else _json(status_object(404, "NotFound", "no such document"), 404)
        )

    async def _proxy(self, request: Request) -> Response:
        try:
            self._check_faults(request)
            return await self.proxy.forward(request)
        except ApiError as exc:
            return _json(exc.status(), exc.code)

    async def _core(self, request: Request) -> Response:
        return await self._handle(request, "api")

    async def _groups(self, request: Request) -> Response:
        return await self._handle(request, "apis")

    async def _handle(self, request: Request, prefix: str) -> Response:
        try:
            self._check_faults(request)
            path = parse(prefix, request.path_params["rest"])
            if path is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return await self._dispatch(request, path)
        except ApiError as exc:
            return _json(exc.status(), exc.code, exc.warnings)

    def _check_faults(self, request: HTTPConnection) -> None:
        for fragment, code in list(self.faults.items()):
            if fragment in request.url.path:
                raise ApiError(code, "InternalError", f"injected fault for {fragment}")

    async def _dispatch(self, request: Request, path: ApiPath) -> Response:
        if not path.plural:
            found = cat.resource_list(self.catalog, path.group, path.version)
            if found is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return JSONResponse(found)
        rtype = self.catalog.by_url(path.group, path.version, path.plural)
        if rtype is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        self._authorize(request, path)
        if path.subresource == "portforward":  # served as a WebSocket only (portforward.py)
            raise ApiError(400, "BadRequest", "Upgrade request required")
        return await Handler(self, request, path, rtype).run()

    def _authorize(self, request: Request, path: ApiPath) -> None:
        watching = request.query_params.get("watch") in ("1", "true")
        resource = f"{path.plural}/{path.subresource}" if path.subresource else path.plural
        access = Access(
            verb_of(request.method, bool(path.name), watching),
            resource,
            path.namespace,
            path.name,
            path.group,
        )
        self.authz.check(request.headers.get("authorization", ""), access)


def _rv_of(obj: Obj) -> dict[str, str]:
    found = obj.get("metadata", {}).get("resourceVersion")
    return {"resourceVersion": found} if found else {}


class Handler:
    """One request on one resource: picks the verb and runs it."""

    def __init__(self, api: KubeApi, request: Request, path: ApiPath, rtype: cat.ResourceType) -> None:
        self.api, self.request, self.path, self.rtype = api, request, path, rtype
        self.query = request.query_params

    @property
    def namespace(self) -> str:
        return self.path.namespace if self.rtype.namespaced else ""

    def key(self, name: str) -> Key:
        return (self.rtype.id, self.namespace, name)

    async def run(self) -> Response:
        method = self.request.method
        if self.rtype.id == "tokenreviews.authentication.k8s.io":
            return await self.token_review() if method == "POST" else self._method_not_allowed()
        if method == "GET":
            if self.path.name:
                return await self.get()
            return await (self.watch() if self.query.get("watch") in ("1", "true") else self.listing())
        verbs = {"POST": self.create, "PUT": self.update, "PATCH": self.patch, "DELETE": self.delete}
        if method == "POST" and self.path.name:
            return self._method_not_allowed()
        return await verbs[method]()

    def _method_not_allowed(self) -> Response:
        return _json(status_object(405, "MethodNotAllowed", "the server does not allow this method"), 405)

    # ---- conversion in and out ---------------------------------------------------------------------

    async def out(self, objects: list[Obj]) -> list[Obj]:
        return await self.api.webhooks.convert(self.rtype, objects, self.path.version)

    async def stored(self, obj: Obj) -> Obj:
        return (await self.api.webhooks.convert(self.rtype, [obj], self.rtype.storage))[0]

    # ---- reads -------------------------------------------------------------------------------------

    async def get(self) -> Response:
        found = self.api.store.get(self.key(self.path.name))
        if found is None:
            raise not_found(self.rtype.plural, self.path.name)
        return _json((await self.out([found]))[0])

    def predicate(self) -> Any:
        try:
            labels = label_selector(self.query.get("labelSelector"))
            fields = field_selector(self.query.get("fieldSelector"))
        except SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from None
        return lambda obj: labels(obj) and fields(obj)

    async def listing(self) -> Response:
        items, rv = self.api.store.list_objects(self.rtype.id, self.namespace, self.predicate())
        body = {
            "kind": f"{self.rtype.kind}List",
            "apiVersion": self.rtype.api_version(self.path.version),
            "metadata": {"resourceVersion": str(rv)},
            "items": await self.out(items),
        }
        return _json(body)

    async def watch(self) -> Response:
        raw = self.query.get("resourceVersion", "")
        if raw not in ("", "0") and not raw.isdigit():
            raise ApiError(400, "BadRequest", f"invalid resourceVersion {raw!r}")
        since = None if raw in ("", "0") else int(raw)
        watcher = Watcher(self.rtype.id, self.namespace, self.predicate(), asyncio.get_running_loop())
        try:
            self.api.store.watch(watcher, since)
        except ApiError as exc:
            return StreamingResponse(
                _lines([{"type": "ERROR", "object": exc.status()}]), media_type="application/json"
            )
        return StreamingResponse(self._stream(watcher), media_type="application/json")

    async def _stream(self, watcher: Watcher) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(self.query.get("timeoutSeconds") or 1800)
        bookmarks = self.query.get("allowWatchBookmarks") in ("1", "true")
        api_version = self.rtype.api_version(self.path.version)
        try:
            while (left := deadline - loop.time()) > 0:
                wait = min(left, self.api.bookmark_interval) if bookmarks else left
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks:
                        self.api.store.bookmark(watcher, self.rtype.kind, api_version)
                    continue
                if item is None:
                    return
                yield await self._event_line(*item)
        except ApiError as exc:
            yield _line({"type": "ERROR", "object": exc.status()})
        finally:
            self.api.store.unwatch(watcher)

    async def _event_line(self, event_type: str, obj: Obj) -> bytes:
        if event_type != "BOOKMARK":
            obj = (await self.out([obj]))[0]
        return _line({"type": event_type, "object": obj})

    # ---- writes ------------------------------------------------------------------------------------

    async def body(self) -> Obj:
        raw = await self.request.body()
        try:
            data = (
                yaml.safe_load(raw)
                if "yaml" in self.request.headers.get("content-type", "")
                else json.loads(raw or b"null")
            )
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError(400, "BadRequest", f"the body is not valid JSON: {exc}") from None
        if not isinstance(data, dict) and not isinstance(data, list):
            raise ApiError(400, "BadRequest", "the body must be an object")
        return data  # type: ignore[return-value]

    def check_object(self, obj: Obj) -> None:
        expected = self.rtype.api_version(self.path.version)
        if obj.get("apiVersion") != expected or obj.get("kind") != self.rtype.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({obj.get('apiVersion')}) "
                f"does not match the expected API version ({expected}) or kind {self.rtype.kind}",
            )
        meta = obj.setdefault("metadata", {})
        if self.rtype.namespaced:
            if meta.get("namespace", self.namespace) != self.namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = self.namespace
            if self.api.store.get(("namespaces", "", self.namespace)) is None:
                raise not_found("namespaces", self.namespace)

    def prune(self, obj: Obj) -> list[str]:
        """Unknown fields of a custom resource dropped as `fieldValidation` asks (warnings returned)."""
        schema = pruning.version_schema(self.rtype.crd, self.path.version) if self.rtype.crd else None
        dropped = pruning.prune(obj, schema) if schema else []
        mode = self.query.get("fieldValidation", "Warn")
        if dropped and mode == "Strict":
            fields = ", ".join(f'unknown field "{path}"' for path in dropped)
            raise ApiError(
                400,
                "BadRequest",
                f'{self.rtype.kind} in version "{self.path.version}" '
                f"cannot be handled as a {self.rtype.kind}: strict decoding error: {fields}",
            )
        return [f'unknown field "{path}"' for path in dropped] if mode == "Warn" else []

    async def checked(self, operation: str, obj: Obj, old: Obj | None) -> list[str]:
        """Mutating admission (`obj` is changed in place), pruning, then validating admission; the
        warnings of all (also on a denial)."""
        warnings = await self.mutated(operation, obj, old)
        warnings += self.prune(obj)
        try:
            return warnings + await self.admit(operation, obj, old)
        except ApiError as exc:
            exc.warnings = warnings + exc.warnings
            raise

    async def mutated(self, operation: str, obj: Obj, old: Obj | None) -> list[str]:
        configs, _ = self.api.store.list_objects("mutatingwebhookconfigurations.admissionregistration.k8s.io")
        if not configs:
            return []
        name = obj.get("metadata", {}).get("name", "")
        request = AdmissionRequest(self.rtype, self.path.version, operation, self.namespace, name, obj, old)
        patched, warnings = await self.api.webhooks.mutate(configs, request, self.api.namespace_labels)
        if patched is not obj and patched is not None:
            obj.clear()
            obj.update(patched)
        return warnings

    async def admit(self, operation: str, obj: Obj | None, old: Obj | None) -> list[str]:
        configs, _ = self.api.store.list_objects(
            "validatingwebhookconfigurations.admissionregistration.k8s.io"
        )
        name = (obj or old or {}).get("metadata", {}).get("name", "")
        request = AdmissionRequest(self.rtype, self.path.version, operation, self.namespace, name, obj, old)
        return await self.api.webhooks.admit(configs, request, self.api.namespace_labels)

    async def create(self) -> Response:
        obj = await self.body()
        self.check_object(obj)
        meta = obj["metadata"]
        meta.pop("resourceVersion", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(422, "Invalid", f"{self.rtype.kind} is invalid: metadata.name: Required value")
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        warnings = await self.checked("CREATE", obj, None)
        if self.query.get("dryRun") == "All":  # admission and conversion ran; nothing is stored
            return _json((await self.out([await self.stored(obj)]))[0], 201, warnings)
        created = self.api.store.create(self.key(meta["name"]), await self.stored(obj))
        self.after_write(created)
        return _json((await self.out([created]))[0], 201, warnings)

    async def current(self) -> Obj:
        found = self.api.store.get(self.key(self.path.name))
        if found is None:
            raise not_found(self.rtype.plural, self.path.name)
        return found

    async def update(self, obj: Obj | None = None, expected_rv: str | None = None) -> Response:
        obj = obj if obj is not None else await self.body()
        self.check_object(obj)
        if obj["metadata"].get("name") != self.path.name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        old = (await self.out([await self.current()]))[0]
        if self.path.subresource == "status":  # a write of the status subresource changes only that
            obj = {**old, "metadata": {**old["metadata"], **_rv_of(obj)}, "status": obj.get("status")}
        rv = expected_rv or obj["metadata"].get("resourceVersion")
        warnings = await self.checked("UPDATE", obj, old)
        updated = self.api.store.update(self.key(self.path.name), await self.stored(obj), rv)
        self.after_write(updated)
        return _json((await self.out([updated]))[0], 200, warnings)

    async def patch(self) -> Response:
        current = (await self.out([await self.current()]))[0]
        patch = await self.body()
        kind = self.request.headers.get("content-type", "")
        if "apply-patch" in kind:
            raise ApiError(415, "UnsupportedMediaType", "server-side apply is not supported by this server")
        patched = (
            json_patch(current, patch)
            if "json-patch" in kind and isinstance(patch, list)
            else merge_patch(current, patch)
        )
        rv = patched.get("metadata", {}).get("resourceVersion") or current["metadata"]["resourceVersion"]
        return await self.update(patched, rv)

    async def delete(self) -> Response:
        raw = await self.request.body()
        options = json.loads(raw) if raw.strip() else {}
        expected = ((options or {}).get("preconditions") or {}).get("resourceVersion")
        old = (await self.out([await self.current()]))[0]
        await self.admit("DELETE", None, old)
        gone = self.api.store.delete(self.key(self.path.name), self.rtype.plural, expected)
        self.after_delete(gone)
        return _json((await self.out([gone]))[0])

    def after_write(self, obj: Obj) -> None:
        if self.rtype.id == "customresourcedefinitions.apiextensions.k8s.io":
            self.api.catalog.add_crd(obj)

    def after_delete(self, obj: Obj) -> None:
        """A deleted CRD takes its objects with it; a deleted Namespace its namespaced objects."""
        if self.rtype.id == "customresourcedefinitions.apiextensions.k8s.io":
            rid = cat.from_crd(obj).id
            for key in self.api.store.keys(rid):
                with contextlib.suppress(ApiError):
                    self.api.store.delete(key, rid)
            self.api.catalog.remove(rid)
        elif self.rtype.id == "namespaces":
            self._delete_namespace_contents(obj["metadata"]["name"])

    def _delete_namespace_contents(self, namespace: str) -> None:
        for rtype in self.api.catalog.all():
            for key in self.api.store.keys(rtype.id):
                if rtype.namespaced and key[1] == namespace:
                    with contextlib.suppress(ApiError):
                        self.api.store.delete(key, rtype.plural)

    async def token_review(self) -> Response:
        review = await self.body()
        spec = review.get("spec") or {}
        answer = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "metadata": {},
            "spec": spec,
            "status": self.api.tokens.review(spec),
        }
        return _json(answer, 201)


def _line(event: Obj) -> bytes:
    return json.dumps(event).encode() + b"\n"


async def _lines(events: list[Obj]) -> AsyncIterator[bytes]:
    for event in events:
        yield _line(event)
