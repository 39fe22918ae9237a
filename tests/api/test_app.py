"""The HTTP API through Starlette's TestClient: apply/get/delete, auth, the bad-input table."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from smimesh.api.app import create_app
from smimesh.resources import load_text
from smimesh.settings import Settings
from smimesh.sources.store import ResourceStore
from smimesh.testing.api_world import MALFORMED, SERVICES, UNKNOWN_KIND, split

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def store() -> ResourceStore:
    return ResourceStore()


@pytest.fixture
def client(store: ResourceStore) -> Iterator[TestClient]:
    app = create_app(store, token=TOKEN, settings=Settings(max_api_body_bytes=64 * 1024))
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


def apply(client: TestClient, text: str, headers: dict[str, str] | None = None) -> dict:
    answer = client.post("/api/v1/apply", content=text.encode(), headers=headers)
    return {"status": answer.status_code, **answer.json()}


def stored_names(store: ResourceStore) -> list[str]:
    return [str(s.key) for s in store.items()]


def test_apply_creates_then_reports_unchanged_and_configured(
    client: TestClient, store: ResourceStore
) -> None:
    first = apply(client, SERVICES + "---\n" + split())
    assert first["status"] == 200
    assert {(a["kind"], a["action"]) for a in first["applied"]} == {
        ("Service", "created"),
        ("TrafficSplit", "created"),
    }
    assert "TrafficSplit/shop/bookstore" in stored_names(store)
    assert {a["action"] for a in apply(client, split())["applied"]} == {"unchanged"}
    assert [a["action"] for a in apply(client, split(v1=50, v2=50))["applied"]] == ["configured"]
    assert all(s.origin == "api" for s in store.items())


def test_get_by_kind_aliases_and_by_name(client: TestClient) -> None:
    apply(client, SERVICES + "---\n" + split())
    for alias in ("ts", "trafficsplits", "TrafficSplit", "TRAFFICSPLIT"):
        items = client.get(f"/api/v1/resources/{alias}").json()["items"]
        assert [i["name"] for i in items] == ["bookstore"], alias
    one = client.get("/api/v1/resources/ts/shop/bookstore").json()
    assert one["origin"] == "api"
    assert one["object"]["spec"]["backends"][0] == {"service": "bookstore-v1", "weight": 90}
    assert len(client.get("/api/v1/resources").json()["items"]) == 4
    assert client.get("/api/v1/resources/svc", params={"namespace": "elsewhere"}).json()["items"] == []


def test_get_unknown_kind_and_missing_object_are_404_with_diagnostics(client: TestClient) -> None:
    answer = client.get("/api/v1/resources/frobs")
    assert answer.status_code == 404
    assert answer.json()["diagnostics"][0]["code"] == "SM7304"
    assert "TrafficSplit" in answer.json()["error"]["hint"]
    answer = client.get("/api/v1/resources/ts/shop/nothing")
    assert answer.status_code == 404 and answer.json()["diagnostics"][0]["code"] == "SM7305"


def test_delete(client: TestClient, store: ResourceStore) -> None:
    apply(client, SERVICES + "---\n" + split())
    answer = client.delete("/api/v1/resources/ts/shop/bookstore")
    assert answer.status_code == 200
    assert answer.json()["deleted"] == {"kind": "TrafficSplit", "namespace": "shop", "name": "bookstore"}
    assert "TrafficSplit/shop/bookstore" not in stored_names(store)
    assert client.delete("/api/v1/resources/ts/shop/bookstore").status_code == 404


def test_objects_defined_by_files_are_refused_409(client: TestClient, store: ResourceStore) -> None:
    loaded = load_text(split(), source="/dir/split.yaml")
    asyncio.run(store.replace_origin("/dir/split.yaml", loaded.objects))
    answer = apply(client, split(v1=0, v2=100))
    assert answer["status"] == 409
    assert [d["code"] for d in answer["diagnostics"]] == ["SM7101"]
    assert "/dir/split.yaml" in answer["diagnostics"][0]["message"]
    refused = client.delete("/api/v1/resources/ts/shop/bookstore")
    assert refused.status_code == 409
    stored = store.get(loaded.objects[0].key)
    assert stored is not None and stored.origin == "/dir/split.yaml"
    assert stored.resource.spec.backends[0].weight == 90


BAD_INPUT = [
    # (case, body, headers, status, code expected among the diagnostics)
    ("malformed YAML", MALFORMED, AUTH, 422, "SM1005"),
    ("unknown kind", UNKNOWN_KIND, AUTH, 422, None),
    ("one bad document spoils the batch", split() + "---\n" + MALFORMED, AUTH, 422, "SM1005"),
    ("huge body", "# " + "x" * (64 * 1024) + "\n" + split(), AUTH, 413, "SM7301"),
    ("not UTF-8", b"\xff\xfe\xfa garbage", AUTH, 400, "SM7302"),
    ("empty", "# nothing here\n", AUTH, 400, "SM7303"),
    ("missing token", split(), {"Authorization": ""}, 401, "SM7306"),
    ("wrong token", split(), {"Authorization": "Bearer nope"}, 403, "SM7307"),
    ("not a bearer token", split(), {"Authorization": f"Basic {TOKEN}"}, 401, "SM7306"),
]


@pytest.mark.parametrize(
    ("case", "body", "headers", "status", "code"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_is_a_clear_4xx_and_stores_nothing(
    client: TestClient,
    store: ResourceStore,
    case: str,
    body: str | bytes,
    headers: dict,
    status: int,
    code: str | None,
) -> None:
    content = body if isinstance(body, bytes) else body.encode()
    answer = client.post("/api/v1/apply", content=content, headers=headers)
    assert answer.status_code == status, answer.text
    payload = answer.json()
    assert payload["error"]["status"] == status and payload["error"]["message"]
    assert payload["diagnostics"], "every refusal carries at least one diagnostic"
    codes = [d["code"] for d in payload["diagnostics"]]
    if code is not None:
        assert code in codes
    else:
        assert all(c.startswith("SM2") for c in codes), codes
    assert store.items() == [], "nothing stored"
    assert store.generation == 0


def test_unknown_kind_diagnostic_names_the_line(client: TestClient) -> None:
    payload = client.post("/api/v1/apply", content=(split() + "---\n" + UNKNOWN_KIND).encode()).json()
    diagnostic = payload["diagnostics"][0]
    assert diagnostic["location"]["line"] == 13
    assert "Frobnicator" in diagnostic["message"]


def test_reads_need_the_token_when_not_from_loopback(store: ResourceStore) -> None:
    app = create_app(store, token=TOKEN)
    with TestClient(app) as anonymous:  # TestClient's peer is "testclient", not loopback
        assert anonymous.get("/api/v1/resources").status_code == 401
        assert anonymous.get("/healthz").status_code == 200


def test_a_cluster_controller_answers_reads_from_anywhere_but_never_writes(store: ResourceStore) -> None:
    """The service proxy calls the controller from the pod network, with no smimesh token."""
    app = create_app(store, token=TOKEN, reads_from_anywhere=True)
    with TestClient(app) as anonymous:
        assert anonymous.get("/api/v1/resources").status_code == 200
        assert anonymous.post("/api/v1/apply", content=b"{}").status_code == 401


def test_status_proxies_metrics(store: ResourceStore, tmp_path: Path) -> None:
    class Rows:
        def rows(self) -> list[dict]:
            return [{"node_id": "a-0.shop", "status": "SYNCED"}]

    app = create_app(
        store,
        token=TOKEN,
        sync_state=Rows(),
        metrics_text=lambda: "smimesh_pushes_total 3\n",
        status=lambda: {"instances": [{"name": "a-0"}]},
    )
    with TestClient(app, headers=AUTH) as client:
        status = client.get("/api/v1/status").json()
        assert status["resources"]["total"] == 0 and status["instances"] == [{"name": "a-0"}]
        assert client.get("/api/v1/proxies").json()["proxies"][0]["status"] == "SYNCED"
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "smimesh_pushes_total 3" in metrics.text
        unknown = client.get("/api/v1/proxies/nobody/config")
        assert unknown.status_code == 404


def test_openapi_names_every_route(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    served = {route.path for route in client.app.routes}  # type: ignore[attr-defined]
    assert set(document["paths"]) == served


def test_reference_problems_are_checked_against_everything_in_force_and_do_not_block(
    client: TestClient, store: ResourceStore
) -> None:
    lonely = apply(client, split())
    assert lonely["status"] == 200, "a split may come before its services"
    assert lonely["diagnostics"] and all(d["severity"] == "warning" for d in lonely["diagnostics"])
    assert all(d["code"].startswith("SM4") for d in lonely["diagnostics"])
    loaded = load_text(SERVICES, source="/dir/services.yaml")
    asyncio.run(store.replace_origin("/dir/services.yaml", loaded.objects))
    assert apply(client, split(v1=50, v2=50))["diagnostics"] == [], "services from files count"


def test_proxy_config_of_an_unreachable_sidecar_is_502_with_diagnostic(store: ResourceStore) -> None:
    from smimesh.testing.net import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(store, token=TOKEN, proxy_admin=lambda name: address if name == "buyer" else None)
    with TestClient(app, headers=AUTH) as client:
        answer = client.get("/api/v1/proxies/buyer/config", params={"type": "clusters"})
        assert answer.status_code == 502
        assert answer.json()["diagnostics"][0]["code"] == "SM7308"
        bad_type = client.get("/api/v1/proxies/buyer/config", params={"type": "nonsense"})
        assert bad_type.status_code == 400 and "listeners" in bad_type.json()["error"]["hint"]


class NoTraffic:
    """A metrics query over a mesh with no traffic yet (the API seam; telemetry tests the real one)."""

    async def get(self, kind: str, namespace: str | None, name: str, window_s: float) -> None:
        return None

    async def list(self, kind: str, namespace: str | None, window_s: float, selector: object = ()) -> None:
        raise AssertionError("not called by these tests")

    async def edges(self, kind: str, namespace: str | None, name: str, window_s: float) -> None:
        return None


def test_smi_metrics_paths_are_mounted_guarded_and_documented(store: ResourceStore) -> None:
    app = create_app(store, token=TOKEN, metrics_query=NoTraffic())
    with TestClient(app) as anonymous:
        assert anonymous.get("/apis/metrics.smi-spec.io/v1alpha1/").status_code == 401, "reads off-loopback"
    with TestClient(app, headers=AUTH) as client:
        assert client.get("/apis/metrics.smi-spec.io/v1alpha1/").status_code == 200
        document = client.get("/api/v1/openapi.json").json()
        served = {route.path for route in client.app.routes}  # type: ignore[attr-defined]
        assert set(document["paths"]) == served


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    missing = client.get("/api/v2/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["status"] == 404
    wrong_method = client.put("/api/v1/apply", content=b"x")
    assert wrong_method.status_code == 405 and "PUT /api/v1/apply" in wrong_method.json()["error"]["message"]
