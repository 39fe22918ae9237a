"""`GET /api/v1/explain`: `smimesh explain` evaluated by the control plane, on the model in force.

Query parameters are the command's words: `from` (WORKLOAD or NS/WORKLOAD), `to` (SERVICE[.NS][:PORT]),
optional `namespace`, `method` (GET), `path` (/) and `header` ("Name: value", repeatable). The
runtime passes `explain(query) -> dict` (`mesh.explain_query.answer` on the model it generated the
sidecars' config from: files and API-applied objects, with its MeshConfig, plus
`xds.expectations.expected_sidecars` for `--live`). A query naming no workload or service of
the running mesh answers 400 with the hint the CLI shows (it exits 2, as for wrong usage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smimesh.api import errors
from smimesh.errors import SmimeshError, UsageError
from smimesh.mesh.explain_query import ExplainQuery

if TYPE_CHECKING:
    from smimesh.api.app import ApiContext


def _query(request: Request) -> ExplainQuery:
    params = request.query_params
    missing = [name for name in ("from", "to") if not params.get(name)]
    if missing:
        raise UsageError(
            f"missing query parameter {', '.join(missing)}", hint="e.g. ?from=shop/client&to=web.shop:80"
        )
    return ExplainQuery(
        source=params["from"],
        target=params["to"],
        method=params.get("method") or "GET",
        path=params.get("path") or "/",
        headers=tuple(params.getlist("header")),
        namespace=params.get("namespace") or None,
    )


async def explain(request: Request) -> Response:
    ctx: ApiContext = request.app.state.ctx
    if ctx.explain is None:
        message = "this control plane does not evaluate explain"
        return errors.error_response(404, message, [errors.problem(errors.NOT_FOUND.code, message)])
    try:
        return JSONResponse(ctx.explain(_query(request)))
    except UsageError as error:
        problem = errors.problem(errors.EXPLAIN_QUERY.code, str(error), hint=error.hint)
        return errors.error_response(400, str(error), [problem], hint=error.hint)
    except SmimeshError as error:  # e.g. no model built yet
        problem = errors.problem(errors.EXPLAIN_QUERY.code, str(error), hint=error.hint)
        return errors.error_response(503, str(error), [problem], hint=error.hint)
