"""The test API server follows the API conventions smimesh relies on (docs/kubernetes.md lists them)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from smimesh.testing.kubeapi import KubeApiServer


@pytest.fixture
def api() -> Iterator[KubeApiServer]:
    with KubeApiServer(bookmark_interval=0.2) as server:
        yield server


def service(name: str, ns: str = "default", labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}]},
    }


def watch_events(client: httpx.Client, path: str, count: int, **params: str) -> list[dict]:
    events = []
    with client.stream("GET", path, params={"watch": "1", **params}) as response:
        for line in response.iter_lines():
            if line:
                events.append(json.loads(line))
            if len(events) >= count:
                break
    return events


def test_discovery_lists_builtin_groups_and_versions(api: KubeApiServer) -> None:
    with api.client() as c:
        assert c.get("/api").json()["versions"] == ["v1"]
        groups = {g["name"]: g for g in c.get("/apis").json()["groups"]}
        assert {"discovery.k8s.io", "coordination.k8s.io", "authentication.k8s.io"} <= set(groups)
        core = {r["name"] for r in c.get("/api/v1").json()["resources"]}
        assert {"services", "pods", "serviceaccounts", "namespaces", "events"} <= core
        assert c.get("/apis/nothing.example/v1").status_code == 404
        assert c.get("/version").json()["minor"] == "29"


def test_crud_resource_versions_and_conflicts(api: KubeApiServer) -> None:
    created = api.create(service("web"))
    rv1 = created["metadata"]["resourceVersion"]
    assert created["metadata"]["uid"]
    with api.client() as c:
        base = "/api/v1/namespaces/default/services"
        assert c.post(base, json=service("web")).json()["reason"] == "AlreadyExists"
        listed = c.get(base).json()
        assert int(listed["metadata"]["resourceVersion"]) >= int(rv1)
        updated = dict(created, spec={"selector": {"app": "w2"}, "ports": [{"port": 81}]})
        ok = c.put(f"{base}/web", json=updated)
        assert ok.status_code == 200 and ok.json()["metadata"]["resourceVersion"] != rv1
        stale = c.put(f"{base}/web", json=updated)  # still carries rv1
        assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
        patched = c.patch(
            f"{base}/web",
            json={"metadata": {"labels": {"x": "1"}}},
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patched.json()["metadata"]["labels"] == {"x": "1"}
        assert c.delete(f"{base}/web").status_code == 200
        assert c.get(f"{base}/web").status_code == 404
        missing_ns = c.post("/api/v1/namespaces/nowhere/services", json=service("a", "nowhere"))
        assert missing_ns.status_code == 404


def test_label_and_field_selectors(api: KubeApiServer) -> None:
    api.create(service("a", labels={"tier": "front", "env": "prod"}))
    api.create(service("b", labels={"tier": "back"}))
    api.create(service("c"))
    with api.client() as c:

        def names(**params: str) -> list[str]:
            items = c.get("/api/v1/services", params=params).json()["items"]
            return [i["metadata"]["name"] for i in items]

        assert names(labelSelector="tier=front") == ["a"]
        assert names(labelSelector="tier!=front") == ["b", "c"]
        assert names(labelSelector="tier in (front,back),env") == ["a"]
        assert names(labelSelector="!tier") == ["c"]
        assert names(fieldSelector="metadata.name=b") == ["b"]
        assert names(fieldSelector="metadata.namespace=default,metadata.name!=b") == ["a", "c"]
        assert c.get("/api/v1/services", params={"labelSelector": "a in b"}).status_code == 400


def test_watch_from_a_resource_version_with_bookmarks(api: KubeApiServer) -> None:
    api.create(service("before"))
    with api.client() as c:
        rv = c.get("/api/v1/namespaces/default/services").json()["metadata"]["resourceVersion"]
        api.create(service("after"))
        api.delete(service("before"))
        events = watch_events(
            c, "/api/v1/namespaces/default/services", 3, resourceVersion=rv, allowWatchBookmarks="true"
        )
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "after"),
        ("DELETED", "before"),
        ("BOOKMARK", None),
    ]
    assert int(events[2]["object"]["metadata"]["resourceVersion"]) >= int(
        events[1]["object"]["metadata"]["resourceVersion"]
    )


def test_watch_without_resource_version_starts_with_the_current_objects(api: KubeApiServer) -> None:
    api.create(service("x"))
    with api.client() as c:
        events = watch_events(c, "/api/v1/services", 1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "x"


def test_compaction_makes_an_old_resource_version_gone(api: KubeApiServer) -> None:
    with api.client() as c:
        rv = c.get("/api/v1/services").json()["metadata"]["resourceVersion"]
        api.create(service("x"))
        api.compact()
        events = watch_events(c, "/api/v1/services", 1, resourceVersion=rv)
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


def test_a_selector_watch_sees_objects_leave_and_enter(api: KubeApiServer) -> None:
    created = api.create(service("x", labels={"mesh": "yes"}))
    with api.client() as c:
        rv = created["metadata"]["resourceVersion"]
        moved = api.replace(dict(created, metadata=dict(created["metadata"], labels={})))
        api.replace(dict(moved, metadata=dict(moved["metadata"], labels={"mesh": "yes"})))
        events = watch_events(c, "/api/v1/services", 2, resourceVersion=rv, labelSelector="mesh=yes")
    assert [e["type"] for e in events] == ["DELETED", "ADDED"]


def test_cut_watches_end_the_stream(api: KubeApiServer) -> None:
    with api.client() as c, c.stream("GET", "/api/v1/services", params={"watch": "true"}) as response:
        lines = response.iter_lines()
        api.create(service("x"))
        assert json.loads(next(lines))["type"] == "ADDED"
        assert api.cut_watches() == 1
        assert list(lines) in ([], [""])


def test_token_review_checks_audience_pod_and_token(api: KubeApiServer) -> None:
    api.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {"serviceAccountName": "web", "containers": []},
        }
    )
    token = api.issue_token("default", "web", pod="p", audiences=["smimesh"])

    def review(token: str, audiences: list[str]) -> dict:
        with api.client() as c:
            body = {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token, "audiences": audiences},
            }
            answer = c.post("/apis/authentication.k8s.io/v1/tokenreviews", json=body)
        assert answer.status_code == 201
        return answer.json()["status"]

    good = review(token, ["smimesh"])
    assert good["authenticated"] and good["user"]["username"] == "system:serviceaccount:default:web"
    assert good["user"]["extra"]["authentication.kubernetes.io/pod-name"] == ["p"]
    assert good["audiences"] == ["smimesh"]
    assert not review(token, ["other"])["authenticated"]
    assert not review("made-up", ["smimesh"])["authenticated"]
    api.delete({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}})
    assert "not found" in review(token, ["smimesh"])["error"]


def test_faults_and_down_up(api: KubeApiServer) -> None:
    api.faults["services"] = 503
    with api.client() as c:
        assert c.get("/api/v1/services").status_code == 503
        api.faults.clear()
        assert c.get("/api/v1/services").status_code == 200
    api.down()
    with pytest.raises(httpx.ConnectError), api.client() as c:
        c.get("/api/v1/services")
    api.up()
    with api.client() as c:
        assert c.get("/api/v1/services").status_code == 200


def test_a_status_subresource_write_changes_only_the_status(api: KubeApiServer) -> None:
    """As the canary controller writes a Canary's status: the spec in the same body is ignored."""
    api.create(service("web"))
    path = "/api/v1/namespaces/default/services/web"
    with api.client() as client:
        patch = {
            "spec": {"selector": {"app": "other"}},
            "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}},
        }
        answer = client.patch(
            f"{path}/status", json=patch, headers={"content-type": "application/merge-patch+json"}
        )
        assert answer.status_code == 200, answer.text
        stored = client.get(path).json()
    assert stored["status"] == patch["status"]
    assert stored["spec"]["selector"] == {"app": "web"}
