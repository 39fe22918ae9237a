"""Hypothesis: whatever bytes arrive at /api/v1/apply, the answer is a JSON 2xx/4xx, never a 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from smimesh.api.app import create_app
from smimesh.sources.store import ResourceStore

TOKEN = "junk-token"
YAMLISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(["apiVersion", "kind", "metadata", "spec", "name", "namespace", "backends", "weight"])
DOCUMENT = st.dictionaries(KEYS, YAMLISH, max_size=5)


def fresh_client() -> tuple[TestClient, ResourceStore]:
    store = ResourceStore()
    client = TestClient(create_app(store, token=TOKEN), headers={"Authorization": f"Bearer {TOKEN}"})
    return client, store


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_random_bytes_never_5xx(body: bytes) -> None:
    client, store = fresh_client()
    answer = client.post("/api/v1/apply", content=body)
    assert answer.status_code < 500
    assert isinstance(answer.json(), dict)
    if answer.status_code >= 400:
        assert answer.json()["diagnostics"]
        assert store.items() == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENT)
def test_random_documents_never_5xx(document: dict) -> None:
    client, store = fresh_client()
    answer = client.post("/api/v1/apply", content=json.dumps(document).encode())
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.json()["diagnostics"] and store.items() == []
