"""`GET /api/v1/explain` through Starlette's TestClient: the answer, mistakes as 400 with hints, auth.

The control plane's side is the real `runtime.explain.LiveExplainer`; the pipeline it reads is a
stand-in that builds the model from the store the way the runtime does (objects applied with
`POST /api/v1/apply` are in it).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from smimesh.api.app import create_app
from smimesh.mesh import build_model
from smimesh.mesh.instances import counter, instances_from_workloads, workload_layout
from smimesh.mesh.modes import DEFAULT_MODES
from smimesh.resources.workload import Workload
from smimesh.runtime.explain import LiveExplainer
from smimesh.sources.store import ResourceStore
from smimesh.testing.access_world import routes, target, workload

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
APPLIED = "\n---\n".join(
    [
        workload("web"),
        workload("client"),
        routes("books", "[{name: read, pathRegex: /books, methods: [GET]}]"),
        target("client-to-web", "web", ["client"], "[{kind: HTTPRouteGroup, name: books}]"),
    ]
)


class _Pipeline:
    """The pipeline's `model`: built from what the store holds, instances laid out as `up` does."""

    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    @property
    def model(self) -> Any:
        snapshot = self.store.snapshot()
        layout = workload_layout(snapshot.of_kind(Workload))
        return build_model(snapshot, instances_from_workloads(layout, counter(20000)))


@pytest.fixture
def client() -> Iterator[TestClient]:
    store = ResourceStore()
    explainer = LiveExplainer(_Pipeline(store), store, SimpleNamespace(modes=DEFAULT_MODES))
    with TestClient(create_app(store, token=TOKEN, explain=explainer.explain), headers=AUTH) as test_client:
        assert test_client.post("/api/v1/apply", content=APPLIED.encode()).status_code == 200
        yield test_client


def test_the_answer_is_the_verdict_and_the_sidecars_to_check(client: TestClient) -> None:
    params = {"from": "shop/client", "to": "web.shop:80", "path": "/books", "header": ["x-a: 1", "x-b: 2"]}
    answer = client.get("/api/v1/explain", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["allowed"] is True and body["request"]["headers"] == {"x-a": "1", "x-b": "2"}
    assert body["decisions"][0]["policy"] == "TrafficTarget/shop/client-to-web"
    assert body["expected"] == [
        {
            "instance": "web-0",
            "node_id": "web-0.shop",
            "side": "destination",
            "port_name": "http",
            "expected_policies": ["TrafficTarget/shop/client-to-web"],
        }
    ]
    denied = client.get("/api/v1/explain", params={"from": "client", "to": "web.shop", "path": "/x"})
    assert denied.status_code == 200 and denied.json()["allowed"] is False


@pytest.mark.parametrize(
    ("params", "message", "hint"),
    [
        ({"from": "ghost", "to": "web.shop"}, "not a Workload in the running mesh", "shop/client, shop/web"),
        ({"from": "client", "to": "nope.shop"}, "no Service nope", "Services: client.shop, web.shop"),
        ({"from": "client", "to": "web.shop", "header": "broken"}, "is not 'Name: value'", "x-user"),
        ({"to": "web.shop"}, "missing query parameter from", "?from="),
    ],
)
def test_a_query_the_mesh_cannot_resolve_is_400_with_a_hint(
    client: TestClient, params: dict[str, str], message: str, hint: str
) -> None:
    answer = client.get("/api/v1/explain", params=params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert message in error["message"] and hint in error["hint"], error


def test_explain_is_a_read_it_needs_the_token_off_loopback(client: TestClient) -> None:
    params = {"from": "client", "to": "web.shop"}
    assert client.get("/api/v1/explain", params=params, headers={"Authorization": ""}).status_code == 401
