"""How the HTTP API says no: one JSON shape for every 4xx/5xx, with coded diagnostics.

Body of every error response::

    {"error": {"status": 422, "reason": "invalid input", "message": "...", "hint": "..."},
     "diagnostics": [Diagnostic.to_dict(), ...]}

The CLI's client turns it back into `errors.ApiError` (with the diagnostics), so a user sees the
same file:line / field / found / expected / hint text as `smimesh validate` prints. The SM73xx
codes are the API's own (the request itself, as opposed to the documents in it).
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from smimesh.diagnostics import Diagnostic, Location, ObjectRef, Severity, register

_SOURCE = Location("<api>")

BODY_TOO_LARGE = register(
    "SM7301",
    "request body too large",
    Severity.ERROR,
    """The body sent to the control plane's API is larger than `max_api_body_bytes` (settings,
    `SMIMESH_MAX_API_BODY_BYTES`). Nothing was stored. Split the manifests into several applies, or
    put them in the directory `smimesh up` watches.""",
)
BODY_NOT_TEXT = register(
    "SM7302",
    "request body is not UTF-8 text",
    Severity.ERROR,
    """`POST /api/v1/apply` takes YAML or JSON text encoded as UTF-8. The body could not be decoded,
    so nothing was stored. Send the manifest file itself (`smimesh apply -f FILE`).""",
)
NO_DOCUMENTS = register(
    "SM7303",
    "nothing to apply",
    Severity.ERROR,
    """The body of the apply request held no document (it was empty or only comments).""",
)
UNKNOWN_KIND = register(
    "SM7304",
    "unknown kind in the request path",
    Severity.ERROR,
    """The kind in the URL (`/api/v1/resources/{kind}`) names no kind smimesh serves. Kinds are
    accepted by name, plural or short name, in any case (`TrafficSplit`, `trafficsplits`, `ts`).""",
)
NOT_FOUND = register(
    "SM7305",
    "no such object",
    Severity.ERROR,
    """No object with that kind, namespace and name is in force in the control plane.""",
)
TOKEN_MISSING = register(
    "SM7306",
    "API token missing",
    Severity.ERROR,
    """Changing the configuration through the API needs the token `smimesh up` wrote to its run
    directory, sent as `Authorization: Bearer <token>`. The CLI finds it by itself when it runs as
    the same user; otherwise pass `--token` or set `SMIMESH_TOKEN`.""",
)
TOKEN_WRONG = register(
    "SM7307",
    "API token wrong",
    Severity.ERROR,
    """The token sent is not the one of this control plane (perhaps one of an earlier `smimesh up`:
    each start writes a new token). Use the token in the current run directory.""",
)
PROXY_UNREACHABLE = register(
    "SM7308",
    "sidecar admin endpoint unreachable",
    Severity.ERROR,
    """The control plane could not read the Envoy admin endpoint of that sidecar (not started yet,
    restarting, or crashed). `smimesh status` shows its state; `smimesh logs NAME --sidecar` why.""",
)

EXPLAIN_QUERY = register(
    "SM7309",
    "explain query not understood",
    Severity.ERROR,
    """`GET /api/v1/explain` (what `smimesh explain` asks a running mesh) names a workload or service
    the running mesh does not have, or a parameter is missing or malformed. The hint lists what
    exists; `smimesh get workloads` and `smimesh get services` show the same.""",
)


def problem(code: str, message: str, *, hint: str = "", value: str | None = None) -> Diagnostic:
    """A diagnostic about the request itself (located at `<api>`)."""
    return Diagnostic(code, message, location=_SOURCE, hint=hint, value=value)


def error_response(
    status: int,
    message: str,
    diagnostics: Sequence[Diagnostic] = (),
    *,
    hint: str = "",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": {
            "status": status,
            "reason": HTTPStatus(status).phrase.lower(),
            "message": message,
            "hint": hint,
        },
        "diagnostics": [d.to_dict() for d in diagnostics],
    }
    return JSONResponse(body, status_code=status, headers=headers)


def diagnostic_from_dict(data: dict[str, Any]) -> Diagnostic:
    """Inverse of `Diagnostic.to_dict()` (used by the client; unknown keys are ignored)."""
    location = data.get("location") or {}
    obj = data.get("object") or {}
    return Diagnostic(
        code=str(data.get("code", "")),
        message=str(data.get("message", "")),
        severity=Severity(data.get("severity", "error")),
        location=Location(location.get("file", ""), location.get("line"), location.get("document")),
        object=ObjectRef(obj.get("kind", ""), obj.get("namespace", ""), obj.get("name", "")),
        path=str(data.get("path", "")),
        value=data.get("value"),
        expected=str(data.get("expected", "")),
        hint=str(data.get("hint", "")),
    )
