"""The SMI metrics paths: discovery, lists, selectors, edges, and clear 400/404 answers."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from smimesh.api.metrics_routes import PREFIX, routes
from smimesh.mesh.model import ServiceKey
from smimesh.telemetry.edges import INBOUND, OUTBOUND, Pod, Reading, Series, Topology
from smimesh.telemetry.query import BuiltinBackend, MetricsQuery
from smimesh.telemetry.window import SlidingWindow

WEB, API = ServiceKey("front", "web"), ServiceKey("back", "api")
PODS = (
    Pod("web-0.front", "front", "web-0", "web", {"app": "web", "tier": "edge"}),
    Pod("web-1.front", "front", "web-1", "web", {"app": "web", "tier": "edge"}),
    Pod("api-0.back", "back", "api-0", "api", {"app": "api"}),
)
SELECTED = {WEB: frozenset({"web-0.front", "web-1.front"}), API: frozenset({"api-0.back"})}
TOPOLOGY = Topology({p.node_id: p for p in PODS}, SELECTED)


@pytest.fixture
def app() -> Starlette:
    window, now = SlidingWindow(300, 1), time.time()
    traffic = {
        Series(OUTBOUND, "web-0.front", str(API)): (30, 3),
        Series(OUTBOUND, "web-1.front", str(API)): (20, 0),
        Series(INBOUND, "api-0.back", "http"): (50, 3),
        Series(INBOUND, "web-0.front", "http"): (7, 0),
    }
    for series, (ok, failed) in traffic.items():
        window.observe(series.instance, {series: Reading()}, now - 2)
        window.observe(series.instance, {series: Reading(ok, failed)}, now - 1)
    return Starlette(routes=routes(MetricsQuery(BuiltinBackend(window), lambda: TOPOLOGY), max_window_s=300))


async def get(app: Starlette, path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        return await client.get(PREFIX + path, params=params)


def counts(item: dict[str, Any]) -> tuple[str, str]:
    values = {m["name"]: m["value"] for m in item["metrics"]}
    return values["success_count"], values["failure_count"]


async def test_discovery(app: Starlette) -> None:
    body = (await get(app, "/")).json()
    assert body["groupVersion"] == "metrics.smi-spec.io/v1alpha1"
    served = {"pods", "deployments", "namespaces", "services", "trafficsplits"}
    assert {r["name"] for r in body["resources"]} == served


async def test_lists_with_label_selectors(app: Starlette) -> None:
    pods = (await get(app, "/pods")).json()
    assert [i["resource"]["name"] for i in pods["items"]] == ["api-0", "web-0", "web-1"]
    selected = (await get(app, "/namespaces/front/pods", labelSelector="app=web,tier in (edge, core)")).json()
    assert [i["resource"]["name"] for i in selected["items"]] == ["web-0", "web-1"]
    assert selected["selector"]["matchLabels"] == {"app": "web"}
    assert (await get(app, "/pods", labelSelector="!tier")).json()["items"][0]["resource"]["name"] == "api-0"


async def test_aggregates_and_edges(app: Starlette) -> None:
    assert counts((await get(app, "/namespaces/back/deployments/api")).json()) == ("50", "3")
    assert counts((await get(app, "/namespaces/back/services/api")).json()) == ("50", "3")
    assert counts((await get(app, "/namespaces/back")).json()) == ("50", "3")
    edges = (await get(app, "/namespaces/back/deployments/api/edges")).json()["items"]
    assert [(e["edge"]["direction"], e["edge"]["resource"]["name"], counts(e)) for e in edges] == [
        ("from", "web", ("50", "3"))
    ]
    pod_edges = (await get(app, "/namespaces/front/pods/web-0/edges")).json()["items"]
    assert [(e["edge"]["direction"], e["edge"]["resource"]["kind"], counts(e)) for e in pod_edges] == [
        ("to", "Pod", ("30", "3"))
    ]
    namespace_edges = (await get(app, "/namespaces/front/edges")).json()["items"]
    assert [(e["edge"]["resource"], counts(e)) for e in namespace_edges] == [
        ({"kind": "Namespace", "name": "back"}, ("50", "3"))
    ]


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "text"),
    [
        ("/nodes", {}, 404, "SM7601", "Unsupported resource: nodes"),
        ("/namespaces/front/pods/ghost", {}, 404, "SM7602", "no Pod named 'ghost' in namespace 'front'"),
        ("/namespaces/nowhere", {}, 404, "SM7602", "no Namespace named 'nowhere'"),
        ("/pods", {"window": "ten"}, 400, "SM7603", "window 'ten'"),
        ("/pods", {"t": "10m"}, 400, "SM7603", "between 0 and 300s"),
        ("/pods", {"labelSelector": "app=(x"}, 400, "SM7604", "app=(x"),
    ],
)
async def test_mistakes_get_a_clear_answer(
    app: Starlette, path: str, params: dict[str, str], status: int, code: str, text: str
) -> None:
    answer = await get(app, path, **params)
    body = answer.json()
    assert answer.status_code == status
    assert text in body["error"]["message"] and body["error"]["hint"]
    assert [d["code"] for d in body["diagnostics"]] == [code]


async def test_a_dead_prometheus_is_a_503_not_a_traceback() -> None:
    from smimesh.telemetry.prometheus_backend import PrometheusBackend
    from smimesh.testing.net import free_port

    backend = PrometheusBackend(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    app = Starlette(routes=routes(MetricsQuery(backend, lambda: TOPOLOGY)))
    for path in ("/pods", "/namespaces/back/deployments/api"):
        answer = await get(app, path)
        assert answer.status_code == 503
        body = answer.json()
        assert "did not answer" in body["error"]["message"] and body["diagnostics"][0]["code"] == "SM7605"
