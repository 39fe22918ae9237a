"""The dashboard's and the observing paths' HTTP surface: the read rule, the page's security headers,
no file outside the static directory, the SSE framing, and bad queries answered as 400 with a hint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.testclient import TestClient

from smimesh.api.app import create_app
from smimesh.sources.store import ResourceStore

TOKEN = "t" * 43
GRAPH = {"window_s": 30.0, "namespaces": ["shop"], "nodes": [], "edges": [], "diagnostics": []}


class Observe:
    def tap(self, namespace: str, workload: str, to: str, path: str) -> AsyncIterator[dict[str, Any]]:
        async def batches() -> AsyncIterator[dict[str, Any]]:
            yield {"events": [{"path": "/books", "status": 200}], "dropped": 2}

        return batches()

    async def routes(self, kind: str, namespace: str | None, name: str, window_s: float) -> Any:
        return None

    def observed(self, window_s: float, namespace: str | None = None) -> list[dict[str, Any]]:
        return []

    def suggest(self, namespace: str | None, window_s: float) -> dict[str, Any]:
        return {"window_s": window_s, "observed": [], "documents": [], "notes": []}

    async def graph(self, window_s: float, namespace: str | None = None) -> dict[str, Any]:
        return GRAPH

    def graph_stream(self, window_s: float, namespace: str | None) -> AsyncIterator[dict[str, Any] | None]:
        async def graphs() -> AsyncIterator[dict[str, Any] | None]:
            yield GRAPH

        return graphs()


def _app() -> Any:
    return create_app(ResourceStore(), token=TOKEN, observe=Observe())


def test_the_page_is_a_read_with_a_strict_policy_and_no_file_escapes() -> None:
    with TestClient(_app()) as anonymous:  # the test client's peer is not loopback: reads need the token
        assert anonymous.get("/dashboard/").status_code == 401
        assert anonymous.get("/api/v1/graph").status_code == 401
    with TestClient(_app(), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        page = client.get("/dashboard/")
        assert page.status_code == 200 and "static/dashboard.js" in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "http" not in policy
        assert client.get("/dashboard/static/vendor/cytoscape.min.js").status_code == 200
        assert client.get("/favicon.ico").headers["content-type"].startswith("image/svg+xml")
        assert client.get("/dashboard/static/../observe.py").status_code == 404
        assert client.get("/dashboard/static/%2e%2e/observe.py").status_code == 404
        assert client.get("/api/v1/graph", params={"window": "1m"}).json()["namespaces"] == ["shop"]
        assert client.get("/api/v1/graph", params={"window": "2h"}).status_code == 400
        stream = client.get("/api/v1/graph/stream")
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert '"namespaces": ["shop"]' in stream.text


def test_tap_streams_lines_and_says_what_was_dropped_and_refuses_bad_queries() -> None:
    with TestClient(_app(), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        lines = client.get("/api/v1/tap", params={"namespace": "shop", "workload": "web"}).text.splitlines()
        assert [line for line in lines if line] == ['{"path": "/books", "status": 200}', '{"dropped": 2}']
        missing = client.get("/api/v1/tap", params={"namespace": "shop"})
        assert missing.status_code == 400 and "workload" in missing.json()["error"]["message"]
        bad = client.get("/api/v1/tap", params={"namespace": "shop", "workload": "web", "path": "("})
        assert bad.status_code == 400 and "regular expression" in bad.json()["error"]["message"]
        assert client.get("/api/v1/policy/suggest", params={"window": "3h"}).status_code == 400
        unknown = client.get("/apis/metrics.smi-spec.io/v1alpha1/namespaces/shop/deployments/nope/routes")
        assert unknown.status_code == 404


def test_dashboard_command_without_a_mesh_says_so(tmp_path: Any, monkeypatch: Any) -> None:
    from click.testing import CliRunner

    from smimesh.cli.main import cli
    from smimesh.testing.net import free_port

    monkeypatch.setenv("SMIMESH_CONTEXT_FILE", str(tmp_path / "contexts.json"))
    result = CliRunner().invoke(cli, ["dashboard", "--no-open", "--api-addr", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 1 and "no control plane" in result.output
