"""The HTTP API of a running control plane, and the CLI's client of it.

Modules: `app` (create_app: routes, token rule), `resources` (apply/get/delete handlers), `inspect`
(status, proxies, a sidecar's config dump, metrics), `errors` (the error body and SM73xx codes),
`auth` (token file, per-user context file), `serve` (uvicorn in the caller's loop), `client`
(httpx client for the CLI), `openapi` (the OpenAPI document), `protocols` (what the API needs of the
store and the sync state: `api` must not import `sources` or `server`, its siblings).
"""
