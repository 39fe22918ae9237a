"""Requests followed through generated config: host forms, splits, matches, 404/503, TCP, inbound."""

from __future__ import annotations

import pytest

from smimesh.mesh import MeshModel, proxy_view
from smimesh.mesh.model import ServiceKey
from smimesh.testing.bookstore import BUYER, THIEF, WAREHOUSE, bookstore_model
from smimesh.testing.bookstore_edges import edge_model
from smimesh.testing.simulator import Outcome, Simulator
from smimesh.xds import generate, names, type_urls

V1 = names.outbound_cluster(ServiceKey("bookstore", "bookstore-v1"), 80)
V2 = names.outbound_cluster(ServiceKey("bookstore", "bookstore-v2"), 80)
ROOT = names.outbound_cluster(ServiceKey("bookstore", "bookstore"), 80)


def send(
    model: MeshModel, node: str, host: str, path: str = "/", method: str = "GET", **headers: str
) -> Outcome:
    view = proxy_view(model, node)
    return Simulator(generate(view)).http(view.node.outbound_http_port, host, path, method, headers)


@pytest.mark.parametrize(
    "host",
    [
        "bookstore",
        "bookstore:80",
        "bookstore.bookstore",
        "bookstore.bookstore:80",
        "bookstore.bookstore.svc",
        "bookstore.bookstore.svc.cluster.local",
        "bookstore.bookstore.svc.cluster.local:80",
        "BookStore.Bookstore",
    ],
)
def test_every_host_form_reaches_the_split(host: str) -> None:
    outcome = send(bookstore_model(), BUYER, host, "/books")
    assert outcome.forwarded
    assert outcome.share(V1) == pytest.approx(0.9) and outcome.share(V2) == pytest.approx(0.1)
    assert outcome.endpoints[V1] == (("127.0.0.1", 20003), ("127.0.0.1", 20007))


def test_a_backend_by_its_own_name_is_not_split() -> None:
    outcome = send(bookstore_model(), BUYER, "bookstore-v2.bookstore", "/books")
    assert outcome.clusters == ((V2, 1),)


@pytest.mark.parametrize(
    "host", ["nothing.bookstore", "bookstore.elsewhere", "bookstore:8080", "example.com"]
)
def test_unknown_hosts_get_a_403_from_the_mesh_naming_the_host(host: str) -> None:
    outcome = send(bookstore_model(), BUYER, host)
    assert outcome.status == 403 and outcome.route == "unknown_host"
    assert f"at this workload's sidecar: no TrafficTarget lets its identity call {host} " in outcome.body


def test_a_workload_no_target_names_sees_no_service() -> None:
    """Its own sidecar answers: the 403 naming the mesh, with `smimesh explain` as the hint."""
    outcome = send(bookstore_model(), THIEF, "bookstore.bookstore", "/books")
    assert outcome.status == 403 and "smimesh explain" in outcome.body and not outcome.clusters


def test_short_name_resolves_in_the_callers_namespace_only() -> None:
    extra = """
apiVersion: v1
kind: Service
metadata: {name: bookstore, namespace: other}
spec: {selector: {app: bookstore}, ports: [{name: http, port: 80}]}
"""
    model = bookstore_model(extra, permissive=True)
    assert send(model, BUYER, "bookstore").share(V1) == pytest.approx(0.9)
    other = names.outbound_cluster(ServiceKey("other", "bookstore"), 80)
    assert send(model, BUYER, "bookstore.other").clusters == ((other, 1),)


def test_split_matches_route_matching_requests_first() -> None:
    model = edge_model("split_matches")
    assert send(model, BUYER, "bookstore", "/books", cookie="a=1; type=insider").clusters[0][0] == V2
    assert send(model, BUYER, "bookstore", "/beta/x", "POST").share(V2) == 1.0
    assert send(model, BUYER, "bookstore", "/beta/x", "DELETE").share(V1) == pytest.approx(0.9)
    assert send(model, BUYER, "bookstore", "/books").share(V1) == pytest.approx(0.9)


def test_all_zero_weights_answer_503_saying_so() -> None:
    outcome = send(edge_model("zero_weights"), BUYER, "bookstore.bookstore", "/books")
    assert outcome.status == 503
    assert "TrafficSplit/bookstore/bookstore" in outcome.body and "weight 0" in outcome.body


def test_missing_backends_are_dropped_and_the_rest_renormalised() -> None:
    outcome = send(edge_model("missing_backends"), BUYER, "bookstore", "/books")
    assert outcome.clusters == ((V1, 90),)


def test_root_as_its_own_backend_means_its_own_endpoints() -> None:
    outcome = send(edge_model("root_self"), BUYER, "bookstore", "/books")
    assert dict(outcome.clusters) == {ROOT: 50, V2: 50}
    assert len(outcome.endpoints[ROOT]) == 3  # v1 (2 replicas) and v2: everything the root selects


def test_multiple_ports_each_get_a_cluster_and_the_default_port_needs_none() -> None:
    model = edge_model("multiple_ports")
    catalog = ServiceKey("bookstore", "catalog")
    assert send(model, BUYER, "catalog:9000").clusters == ((names.outbound_cluster(catalog, 9000), 1),)
    assert send(model, BUYER, "catalog").clusters == ((names.outbound_cluster(catalog, 8080), 1),)
    assert send(model, BUYER, "catalog.bookstore:50051").clusters == (
        (names.outbound_cluster(catalog, 50051), 1),
    )


def test_tcp_upstream_port_splits_by_weight() -> None:
    model = edge_model("tcp_ports")
    view = proxy_view(model, WAREHOUSE)
    db = next(u for u in view.tcp_upstreams if u.service.name == "db")
    outcome = Simulator(generate(view)).tcp(db.local_port)
    primary = names.outbound_cluster(ServiceKey("bookstore", "db"), 5432)
    assert outcome.share(primary) == pytest.approx(0.75)


def test_tcp_upstreams_only_for_reachable_services() -> None:
    """An announced TCP upstream of a service it may not call only closes (and logs) the connection."""
    view = proxy_view(edge_model("tcp_ports"), BUYER)
    assert view.tcp_upstreams and all(u.denied and u.splits is None for u in view.tcp_upstreams)
    listeners = [
        listeners_of(generate(view))[n] for n in listeners_of(generate(view)) if n.startswith("outbound_tcp|")
    ]
    assert listeners and all("caller_denied" in str(x) and "tcp_denied" in str(x) for x in listeners)


def test_inbound_forwards_to_the_app_port() -> None:
    model = bookstore_model()
    view = proxy_view(model, "bookstore-v1-0.bookstore")
    (inbound,) = view.inbound
    outcome = Simulator(generate(view)).http(inbound.sidecar_port, "bookstore.bookstore", "/books")
    assert outcome.endpoints == {names.inbound_cluster("http"): (("127.0.0.1", inbound.app_port),)}


def test_inbound_tcp_port_uses_tcp_proxy() -> None:
    view = proxy_view(edge_model("tcp_ports"), "db-0.bookstore")
    (inbound,) = view.inbound
    outcome = Simulator(generate(view)).tcp(inbound.sidecar_port)
    assert outcome.endpoints == {names.inbound_cluster("postgres"): (("127.0.0.1", inbound.app_port),)}


def listeners_of(config: dict[str, list[object]]) -> dict[str, object]:
    return {x.name: x for x in config[type_urls.LISTENER]}  # type: ignore[attr-defined]
