"""The API on a real uvicorn server on a free loopback port, in the test's own event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from smimesh.api.app import create_app
from smimesh.api.serve import ApiServer
from smimesh.errors import SmimeshError
from smimesh.settings import Settings
from smimesh.sources.store import ResourceStore
from smimesh.testing.api_world import MALFORMED, SERVICES, UNKNOWN_KIND, split

TOKEN = "uvicorn-token"
LIMIT = 32 * 1024


@pytest.fixture
async def served() -> AsyncIterator[tuple[ResourceStore, str]]:
    store = ResourceStore()
    server = ApiServer(create_app(store, token=TOKEN, settings=Settings(max_api_body_bytes=LIMIT)))
    port = await server.start()
    try:
        yield store, f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


def client(base: str, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(base_url=base, headers=headers, trust_env=False)


async def test_loopback_reads_are_open_writes_need_the_token(served: tuple[ResourceStore, str]) -> None:
    store, base = served
    async with client(base, token=None) as anonymous:
        assert (await anonymous.get("/api/v1/resources")).status_code == 200
        refused = await anonymous.post("/api/v1/apply", content=split())
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert (await anonymous.delete("/api/v1/resources/ts/shop/bookstore")).status_code == 401
    async with client(base, token="wrong") as wrong:
        assert (await wrong.post("/api/v1/apply", content=split())).status_code == 403
    assert store.items() == []
    async with client(base) as authorized:
        answer = await authorized.post("/api/v1/apply", content=SERVICES + "---\n" + split())
        assert answer.status_code == 200
        assert len(store.items()) == 4


async def chunks(total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        sent += 4096
        yield b"# padding padding padding padding\n" * 113 + b"#\n"


async def test_chunked_huge_body_is_refused_without_content_length(served: tuple[ResourceStore, str]) -> None:
    store, base = served
    async with client(base) as authorized:
        answer = await authorized.post("/api/v1/apply", content=chunks(LIMIT * 4))
    assert answer.status_code == 413
    assert answer.json()["diagnostics"][0]["code"] == "SM7301"
    assert store.items() == []


@pytest.mark.parametrize(
    ("body", "status"), [(MALFORMED, 422), (UNKNOWN_KIND, 422), ("x" * (LIMIT + 1), 413)]
)
async def test_bad_bodies_over_the_wire(served: tuple[ResourceStore, str], body: str, status: int) -> None:
    store, base = served
    async with client(base) as authorized:
        answer = await authorized.post("/api/v1/apply", content=body)
    assert answer.status_code == status
    assert answer.json()["diagnostics"]
    assert store.items() == []


async def test_address_in_use_is_a_clear_error(served: tuple[ResourceStore, str]) -> None:
    _, base = served
    with pytest.raises(SmimeshError, match="cannot listen on"):
        await ApiServer(create_app(ResourceStore(), token=TOKEN), base.removeprefix("http://")).start()
