"""The conversion and admission webhooks, called by the test API server over HTTPS with the caBundle."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from tests.kubernetes.kube_world import meshed_namespace

from smimesh.api.webhooks import admission
from smimesh.resources import load_paths, registry
from smimesh.resources.crd import smi_kinds
from smimesh.testing import bookstore
from smimesh.testing.kubeapi import KubeApiServer, collection_path
from smimesh.testing.kubeapi.mesh_webhooks import RunningWebhooks, serving_webhooks
from smimesh.testing.kubeapi.pruning import prune, version_schema

INVALID = Path(__file__).parent.parent / "resources" / "invalid"
SMI_GROUPS = {registry.KINDS[k].group for k in smi_kinds()}


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[KubeApiServer, RunningWebhooks]]:
    with KubeApiServer() as api, serving_webhooks(api) as hooks:
        meshed_namespace(api, "default")
        yield api, hooks


def smi_documents(path: Path) -> list[tuple[int, dict]]:
    """(index in the file, document) of every document an SMI CRD serves."""
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except (yaml.YAMLError, UnicodeDecodeError):
        return []  # a reading error (SM1xxx) never reaches an API server: kubectl fails first
    return [
        (i, d)
        for i, d in enumerate(docs)
        if isinstance(d, dict)
        and isinstance(d.get("apiVersion"), str)
        and registry.group_of(d["apiVersion"]) in SMI_GROUPS
        and isinstance(d.get("metadata"), dict)
        and registry.lookup(d["apiVersion"], str(d.get("kind"))) is not None
    ]


ADMISSION_CASES = [p for p in sorted(INVALID.glob("*.yaml")) if smi_documents(p)]


def test_the_corpus_gives_admission_enough_cases() -> None:
    assert len(ADMISSION_CASES) >= 30


@pytest.mark.parametrize("path", ADMISSION_CASES, ids=[p.stem for p in ADMISSION_CASES])
def test_every_invalid_document_is_refused_at_admission_with_its_code(
    cluster: tuple[KubeApiServer, RunningWebhooks], path: Path
) -> None:
    api, _ = cluster
    offline = load_paths([str(path)], references=False).diagnostics
    with api.client() as client:
        for index, doc in smi_documents(path):
            pruned = pruned_paths(api, doc)
            mine = [d for d in offline if d.location.document == index and not _under(d.path, pruned)]
            errors = {(d.code, d.path) for d in mine if d.is_error}
            warnings = {(d.code, d.path) for d in mine if not d.is_error}
            namespace = doc["metadata"].setdefault("namespace", "default")
            meshed_namespace(api, namespace)
            answer = client.post(collection_path(api.catalog, doc), json=doc)
            text = answer.json().get("message", "") + answer.headers.get("warning", "")
            for field in pruned:  # kube-apiserver's own pruning, before admission (fieldValidation=Warn)
                assert f'unknown field "{field}"' in text, text
            if errors:
                assert answer.status_code == 403, answer.text
                assert answer.json()["message"].startswith('admission webhook "validate.smimesh.io" denied')
            else:
                assert answer.status_code == 201, answer.text
                client.delete(f"{collection_path(api.catalog, doc)}/{doc['metadata']['name']}")
            for code, field in errors | warnings:
                assert f"{code} {field or '(object)'}" in text, (code, field, text)


def pruned_paths(api: KubeApiServer, doc: dict) -> list[str]:
    """What the API server drops from `doc` before admission (fields its version's schema lacks)."""
    rtype = api.catalog.by_kind(doc["apiVersion"], doc["kind"])
    assert rtype is not None and rtype.crd is not None
    schema = version_schema(rtype.crd, doc["apiVersion"].rpartition("/")[2])
    return prune(copy.deepcopy(doc), schema or {})


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in prefixes)


def test_strict_field_validation_refuses_unknown_fields(
    cluster: tuple[KubeApiServer, RunningWebhooks],
) -> None:
    api, _ = cluster
    doc = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "strict", "namespace": "default"},
        "spec": {
            "service": "web",
            "backends": [{"service": "a", "weight": 1}],
            "matches": [{"kind": "HTTPRouteGroup", "name": "x"}],
        },
    }
    with api.client() as client:
        answer = client.post(
            collection_path(api.catalog, doc), json=doc, params={"fieldValidation": "Strict"}
        )
    assert answer.status_code == 400
    assert 'strict decoding error: unknown field "spec.matches"' in answer.json()["message"]


def test_admission_lets_deletes_and_outside_namespaces_through(
    cluster: tuple[KubeApiServer, RunningWebhooks],
) -> None:
    api, _ = cluster
    with api.client() as client:
        client.post(
            "/api/v1/namespaces",
            json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "unmeshed"}},
        )
        bad = {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "kind": "TrafficSplit",
            "metadata": {"name": "s", "namespace": "unmeshed"},
            "spec": {"service": "web", "backends": [{"service": "a", "weight": 1}, {"service": "a"}]},
        }
        assert client.post(collection_path(api.catalog, bad), json=bad).status_code == 201
    assert admission.review({"request": {"uid": "u", "operation": "DELETE"}})["response"]["allowed"]


def _examples_by_kind() -> dict[str, list[dict]]:
    """Hub objects of every SMI kind from the test kit's bookstore world (plus a UDPRoute and a TCPRoute)."""
    found: dict[str, list[dict]] = {}
    extra = """
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: UDPRoute
metadata: {name: dns, namespace: bookstore}
spec: {matches: {name: dns, ports: [53]}}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db, namespace: bookstore}
spec: {matches: {name: db, ports: [5432]}}
"""
    for resource in bookstore.world(extra):
        if resource.KIND in smi_kinds():
            found.setdefault(resource.KIND, []).append(resource.to_dict())
    return found


@pytest.mark.parametrize("kind", smi_kinds())
def test_conversion_round_trip_for_every_version_pair_through_the_webhook(
    cluster: tuple[KubeApiServer, RunningWebhooks], kind: str
) -> None:
    api, _ = cluster
    info = registry.KINDS[kind]
    versions = registry.versions_of(kind)
    samples = _examples_by_kind().get(kind, [])
    assert samples, f"no example of {kind}"
    pairs = 0
    with api.client() as client:
        for i, (first, second) in enumerate(itertools.permutations(versions, 2)):
            name = f"rt-{i}"
            doc = next((d for s in samples if (d := _in_version(s, first, name)) is not None), None)
            assert doc is not None, f"no example of {kind} converts to {first}"
            pairs += 1
            namespace = doc["metadata"]["namespace"]
            meshed_namespace(api, namespace)
            base = f"/apis/{first}/namespaces/{namespace}/{info.plural}"
            assert client.post(base, json=doc).status_code == 201, (first, doc)
            stored = api.api.store.get((f"{info.plural}.{info.group}", namespace, name))
            assert stored is not None and stored["apiVersion"] == info.hub.API_VERSION
            there = client.get(f"/apis/{second}/namespaces/{namespace}/{info.plural}/{name}").json()
            assert there["apiVersion"] == second, there
            back = client.get(f"{base}/{name}").json()
            assert _content(back) == _content(doc), (first, second)
            client.delete(f"{base}/{name}")
    assert pairs == len(versions) * (len(versions) - 1)


def _content(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k != "metadata"}


def _in_version(sample: dict, api_version: str, name: str) -> dict | None:
    from smimesh.api.webhooks.conversion import ConversionFailed, convert_object

    try:
        doc = convert_object(sample, api_version)
    except ConversionFailed:
        return None  # this example cannot be expressed in that version
    doc["metadata"] = {"name": name, "namespace": sample["metadata"]["namespace"]}
    return doc


def test_webhook_certificate_rotation_fails_no_admission(
    cluster: tuple[KubeApiServer, RunningWebhooks],
) -> None:
    api, hooks = cluster
    failures: list[str] = []
    stop = threading.Event()

    def create_many() -> None:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            for i in itertools.count():
                if stop.is_set():
                    return
                doc = {
                    "apiVersion": "split.smi-spec.io/v1alpha4",
                    "kind": "TrafficSplit",
                    "metadata": {"name": f"rot-{i}", "namespace": "default"},
                    "spec": {"service": "web", "backends": [{"service": "a", "weight": 1}]},
                }
                answer = client.post(
                    "/apis/split.smi-spec.io/v1alpha4/namespaces/default/trafficsplits", json=doc
                )
                if answer.status_code != 201:
                    failures.append(answer.text)

    worker = threading.Thread(target=create_many)
    worker.start()
    try:
        before = len(api.api.webhooks.calls)
        for _ in range(5):
            hooks.rotate()
            calls = len(api.api.webhooks.calls)
            while len(api.api.webhooks.calls) < calls + 5:
                threading.Event().wait(0.02)
    finally:
        stop.set()
        worker.join(30)
    assert len(api.api.webhooks.calls) - before >= 25
    assert failures == []
    assert len(set(hooks.serials)) == 6
