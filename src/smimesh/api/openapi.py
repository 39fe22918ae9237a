"""The OpenAPI 3.1 description of the HTTP API, served at `/api/v1/openapi.json`.

Written out by hand (the app is plain Starlette): one place that says every path, its auth, its
answers and the shared error body, so a schema-driven tester (schemathesis) or a client generator
can use it. `tests/api/test_openapi.py` checks that it names exactly the routes the app serves.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON = "application/json"


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema or {"type": "object"}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "bad request",
        401: "token missing",
        403: "token wrong",
        404: "not found",
        409: "defined by a file",
        413: "body too large",
        422: "documents have errors",
        502: "sidecar unreachable",
        503: "not ready yet",
    }
    return {str(s): _answer(texts[s], _ERROR) for s in statuses}


_KIND = {"name": "kind", "in": "path", "required": True, "schema": {"type": "string"}}
_NS = {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_NS_QUERY = {"name": "namespace", "in": "query", "required": False, "schema": {"type": "string"}}
_WRITE: list[dict[str, list[str]]] = [{"bearer": []}]


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": {"summary": "liveness", "responses": {"200": _answer("ok")}}},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of the control plane",
                "responses": {
                    "200": {
                        "description": "Prometheus text",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {"summary": "this document", "responses": {"200": _answer("OpenAPI")}}
        },
        "/api/v1/apply": {
            "post": {
                "summary": "create or update resources (all or nothing)",
                "security": _WRITE,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/yaml": {"schema": {"type": "string"}},
                        _JSON: {"schema": {"type": "object"}},
                    },
                },
                "responses": {"200": _answer("applied"), **_errors(400, 401, 403, 409, 413, 422)},
            }
        },
        "/api/v1/resources": {
            "get": {
                "summary": "every resource in force",
                "parameters": [_NS_QUERY],
                "responses": {"200": _answer("items", {"$ref": "#/components/schemas/Items"})},
            }
        },
        "/api/v1/resources/{kind}": {
            "get": {
                "summary": "resources of one kind (name, plural or short name)",
                "parameters": [_KIND, _NS_QUERY],
                "responses": {
                    "200": _answer("items", {"$ref": "#/components/schemas/Items"}),
                    **_errors(404),
                },
            }
        },
        "/api/v1/resources/{kind}/{namespace}/{name}": {
            "get": {
                "summary": "one resource",
                "parameters": [_KIND, _NS, _NAME],
                "responses": {"200": _answer("the resource"), **_errors(404)},
            },
            "delete": {
                "summary": "delete an API-applied resource",
                "security": _WRITE,
                "parameters": [_KIND, _NS, _NAME],
                "responses": {"200": _answer("deleted"), **_errors(401, 403, 404, 409)},
            },
        },
        "/api/v1/status": {
            "get": {"summary": "control plane status", "responses": {"200": _answer("status")}}
        },
        "/api/v1/proxies": {
            "get": {"summary": "sync state per sidecar", "responses": {"200": _answer("rows")}}
        },
        "/api/v1/proxies/{name}/config": {
            "get": {
                "summary": "a sidecar's config as Envoy holds it",
                "parameters": [
                    _NAME,
                    {
                        "name": "type",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "enum": ["bootstrap", "listeners", "clusters", "routes", "endpoints", "secrets"]
                        },
                    },
                ],
                "responses": {"200": _answer("config dump"), **_errors(400, 404, 502)},
            }
        },
        "/api/v1/explain": {
            "get": {
                "summary": "`smimesh explain` on the model in force: verdict, rule, expected sidecars",
                "parameters": [
                    _query("from", "calling Workload, NAME or NS/NAME", required=True),
                    _query("to", "SERVICE, SERVICE.NS, with :PORT", required=True),
                    _query("namespace", "namespace of `from` and of a bare `to`"),
                    _query("method", "HTTP method (GET)"),
                    _query("path", "HTTP path (/)"),
                    {**_query("header", "'Name: value', repeatable"), "explode": True},
                ],
                "responses": {"200": _answer("explanation"), **_errors(400, 404, 503)},
            }
        },
        **_canary_paths(),
    }


def _canary_paths() -> dict[str, Any]:
    """The canary controller (`api/canaries.py`, issue 14)."""
    ns = {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}
    action = {
        "name": "action",
        "in": "path",
        "required": True,
        "schema": {"enum": ["promote", "abort", "retry", "pause", "resume", "set-weight"]},
    }
    return {
        "/api/v1/canaries": {
            "get": {
                "summary": "every Canary with its status (Flagger's), analysis history and events",
                "parameters": [_query("namespace", "only this namespace")],
                "responses": {"200": _answer("items"), **_errors(404)},
            }
        },
        "/api/v1/canaries/{namespace}/{name}": {
            "get": {
                "summary": "one Canary",
                "parameters": [ns, _NAME],
                "responses": {"200": _answer("canary"), **_errors(404)},
            }
        },
        "/api/v1/canaries/{namespace}/{name}/{action}": {
            "post": {
                "summary": 'promote, abort, retry, pause, resume or set-weight (body {"weight": N})',
                "security": _WRITE,
                "parameters": [ns, _NAME, action],
                "responses": {"200": _answer("canary"), **_errors(401, 403, 404, 409)},
            }
        },
    }


def _query(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _metrics_paths() -> dict[str, Any]:
    """The SMI metrics API (metrics.smi-spec.io/v1alpha1, `metrics_routes`), when it is served."""
    from smimesh.api.metrics_routes import PREFIX

    window = {"name": "window", "in": "query", "required": False, "schema": {"type": "string"}}
    selector = {"name": "labelSelector", "in": "query", "required": False, "schema": {"type": "string"}}
    ns = {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}
    ns_name = {**_NAME, "description": "namespace name"}

    def get(summary: str, *parameters: dict[str, Any]) -> dict[str, Any]:
        answers = {"200": _answer("TrafficMetrics or TrafficMetricsList"), **_errors(400, 404)}
        return {"get": {"summary": summary, "parameters": [*parameters, window], "responses": answers}}

    return {
        PREFIX: get("API discovery"),
        PREFIX + "/": get("API discovery"),
        PREFIX + "/namespaces/{name}": get("metrics of a namespace", ns_name),
        PREFIX + "/namespaces/{name}/edges": get("edges of a namespace", ns_name),
        PREFIX + "/namespaces/{namespace}/{kind}": get(
            "metrics of every object of a kind", ns, _KIND, selector
        ),
        PREFIX + "/namespaces/{namespace}/{kind}/{name}": get("metrics of one object", ns, _KIND, _NAME),
        PREFIX + "/namespaces/{namespace}/{kind}/{name}/edges": get("edges of one object", ns, _KIND, _NAME),
        PREFIX + "/{kind}": get("metrics of a kind in every namespace", _KIND, selector),
    }


def openapi_document(*, metrics: bool = False) -> dict[str, Any]:
    """The document; `metrics` adds the SMI metrics paths (served when the runtime passes a query)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "smimesh control plane API", "version": "v1"},
        "paths": _paths() | (_metrics_paths() if metrics else {}),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Diagnostic": {"type": "object", "required": ["code", "message", "severity"]},
                "Error": {
                    "type": "object",
                    "required": ["error", "diagnostics"],
                    "properties": {
                        "error": {"type": "object", "required": ["status", "message"]},
                        "diagnostics": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Diagnostic"},
                        },
                    },
                },
                "Items": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {"items": {"type": "array"}},
                },
            },
        },
    }
