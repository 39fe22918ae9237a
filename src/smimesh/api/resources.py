"""Handlers of `/api/v1/apply` and `/api/v1/resources/...`: apply, list, get, delete.

Apply is all-or-nothing: if any document in the body has an error, nothing is stored and the
answer (422) lists every problem. Applying the valid part would leave the mesh in a state nobody
wrote down (half a canary: the split without its route group), and the user has to resend the
fixed file anyway; kubectl's partial apply is a frequent source of exactly that confusion.
Warnings do not block, nor do problems between objects (a reference to a missing object): see
`reference_warnings`. An object a manifest file defines is refused as a whole too (409, SM7101).

Every object in an answer is `{"kind", "namespace", "name", "origin", "location", "object"}` where
`object` is the resource in its hub version, in SMI's JSON names.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smimesh.api import errors
from smimesh.diagnostics import Diagnostic, Severity, has_errors

if TYPE_CHECKING:
    from smimesh.api.app import ApiContext
    from smimesh.api.protocols import StoredLike

API_ORIGIN = "api"


def _ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def apply(request: Request) -> Response:
    ctx = _ctx(request)
    body = await read_limited(request, ctx.settings.max_api_body_bytes)
    if isinstance(body, Response):
        return body
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = errors.problem(errors.BODY_NOT_TEXT.code, f"body is not UTF-8 ({exc.reason})")
        return errors.error_response(400, "request body is not UTF-8 text", [problem])
    return await apply_text(ctx, text, wait_s=_wait(request))


def _wait(request: Request) -> float:
    """`?wait=SECONDS`: how long to wait for the sidecars to take the change (0 = do not), ≤ 60."""
    try:
        return min(60.0, max(0.0, float(request.query_params.get("wait", "0"))))
    except ValueError:
        return 0.0


async def apply_text(ctx: ApiContext, text: str, *, wait_s: float = 0.0) -> Response:
    from smimesh.resources import load_text

    result = load_text(text, source="<api>", settings=ctx.settings, references=False)
    diagnostics: list[Diagnostic] = list(result.diagnostics)
    if has_errors(diagnostics):
        return errors.error_response(422, "the documents have errors; nothing was applied", diagnostics)
    if not result.objects:
        problem = errors.problem(errors.NO_DOCUMENTS.code, "the body holds no document to apply")
        return errors.error_response(400, "nothing to apply", [problem, *diagnostics])
    diagnostics += reference_warnings(ctx, result.objects)
    actions = [_action(ctx, obj) for obj in result.objects]
    begun = ctx.delivery.begin() if ctx.delivery is not None and wait_s else None
    refusals = await ctx.store.apply(result.objects, API_ORIGIN)
    if has_errors(refusals):
        message = "some objects are defined by files; nothing was applied"
        return errors.error_response(409, message, refusals)
    applied = [
        {**_identity(obj.key), "action": action} for obj, action in zip(result.objects, actions, strict=True)
    ]
    warnings = [d.to_dict() for d in [*diagnostics, *refusals]]
    answer: dict[str, Any] = {"applied": applied, "diagnostics": warnings}
    if ctx.delivery is not None and wait_s:
        keys = [obj.key for obj in result.objects]
        answer["delivery"] = await ctx.delivery.finish(begun, keys, wait_s)
    return JSONResponse(answer)


def reference_warnings(ctx: ApiContext, objects: list[Any]) -> list[Diagnostic]:
    """Cross-object problems of the applied objects, checked against everything in force.

    They do not block the apply (as warnings): references are order-independent — the route
    group may be applied after the TrafficTarget naming it — and the mesh fails closed meanwhile.
    """
    from smimesh.resources import InputSnapshot, validate_references

    merged = {stored.obj.key: stored.obj for stored in ctx.store.items()}
    merged.update({obj.key: obj for obj in objects})
    applied = {(obj.key.kind, obj.key.namespace, obj.key.name) for obj in objects}
    found = validate_references(InputSnapshot.from_objects(merged.values()))
    return [
        replace(d, severity=Severity.WARNING)
        for d in found
        if (d.object.kind, d.object.namespace, d.object.name) in applied
    ]


def _action(ctx: ApiContext, obj: Any) -> str:
    current = ctx.store.get(obj.key)
    if current is None:
        return "created"
    return "unchanged" if current.obj.resource == obj.resource else "configured"


async def read_limited(request: Request, limit: int) -> bytes | Response:
    """The body, or a 413 answer as soon as it is known to exceed `limit` (never buffered past it)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _too_large(int(declared), limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return _too_large(len(body), limit)
    return bytes(body)


def _too_large(size: int, limit: int) -> Response:
    problem = errors.problem(
        errors.BODY_TOO_LARGE.code,
        f"request body of {size} bytes is over the limit of {limit} bytes",
        value=str(size),
        hint="split the manifests into several applies",
    )
    return errors.error_response(413, "request body too large; nothing was applied", [problem])


async def list_all(request: Request) -> Response:
    return _listing(request, kind=None)


async def list_kind(request: Request) -> Response:
    kind = resolve_kind(request.path_params["kind"])
    if isinstance(kind, Response):
        return kind
    return _listing(request, kind=kind)


def _listing(request: Request, *, kind: str | None) -> Response:
    namespace = request.query_params.get("namespace") or None
    items = [
        describe(stored)
        for stored in _ctx(request).store.items()
        if (kind is None or stored.obj.key.kind == kind)
        and (namespace is None or stored.obj.key.namespace == namespace)
    ]
    return JSONResponse({"items": items})


async def get_one(request: Request) -> Response:
    found = _find(request)
    return found if isinstance(found, Response) else JSONResponse(describe(found))


async def delete_one(request: Request) -> Response:
    kind = resolve_kind(request.path_params["kind"])
    if isinstance(kind, Response):
        return kind
    key = _key(kind, request.path_params["namespace"], request.path_params["name"])
    try:
        refusals = await _ctx(request).store.delete(key)
    except KeyError:
        return _not_found(key)
    if has_errors(refusals):
        return errors.error_response(409, f"{key} is defined by a file; nothing was deleted", refusals)
    return JSONResponse({"deleted": _identity(key)})


def _find(request: Request) -> StoredLike | Response:
    kind = resolve_kind(request.path_params["kind"])
    if isinstance(kind, Response):
        return kind
    key = _key(kind, request.path_params["namespace"], request.path_params["name"])
    stored = _ctx(request).store.get(key)
    return stored if stored is not None else _not_found(key)


def resolve_kind(name: str) -> str | Response:
    """`ts`, `trafficsplits`, `TrafficSplit` -> `TrafficSplit`; else a 404 naming the known kinds."""
    from smimesh.resources import registry

    info = registry.info_of(name)
    if info is not None:
        return info.kind
    kinds = ", ".join(sorted(registry.KINDS))
    problem = errors.problem(
        errors.UNKNOWN_KIND.code, f"unknown kind {name!r}", value=name, hint=f"known kinds: {kinds}"
    )
    return errors.error_response(404, f"unknown kind {name!r}", [problem], hint=f"known kinds: {kinds}")


def _key(kind: str, namespace: str, name: str) -> Any:
    from smimesh.resources import ResourceKey

    return ResourceKey(kind, namespace, name)


def _not_found(key: Any) -> Response:
    problem = errors.problem(errors.NOT_FOUND.code, f"{key} not found")
    return errors.error_response(404, f"{key} not found", [problem])


def _identity(key: Any) -> dict[str, str]:
    return {"kind": key.kind, "namespace": key.namespace, "name": key.name}


def describe(stored: StoredLike) -> dict[str, Any]:
    obj = stored.obj
    return {
        **_identity(obj.key),
        "origin": stored.origin,
        "location": _where(obj.location),
        "object": obj.resource.to_dict(),
    }


def _where(location: Any) -> str:
    """`file:line` (the document index adds nothing once the line is known)."""
    return f"{location.file}:{location.line}" if location.line is not None else str(location.file)
