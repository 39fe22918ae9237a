"""Resilience policy in generated config: what each sidecar gets, that Envoy accepts it, and that a mesh
without policy generates exactly what it did before (the no-policy path never touches a message)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from smimesh.mesh import proxy_view
from smimesh.testing.bookstore import BOOKSTORE_V1, BUYER, WAREHOUSE, bookstore_model
from smimesh.testing.envoy_validate import static_bootstrap, validate_config
from smimesh.xds import generate, type_urls

POLICY = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: buyer-retries, namespace: bookstore}
spec:
  source: {kind: ServiceAccount, name: buyer, namespace: bookstore}
  destinations: [{kind: Service, name: bookstore, namespace: bookstore}]
  retryPolicy: {retryOn: "5xx,reset", perTryTimeout: 250ms, numRetries: 4, retryBackoffBaseInterval: 10ms}
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: bookstore-v1, namespace: bookstore}
spec:
  host: bookstore-v1.bookstore.svc.cluster.local
  connectionSettings:
    tcp: {maxConnections: 5, connectTimeout: 2s}
    http: {maxRequests: 7, maxRequestsPerConnection: 3, maxPendingRequests: 2, maxRetries: 4}
  rateLimit:
    local:
      http: {requests: 10, unit: second, burst: 5, responseStatusCode: 503,
             responseHeadersToAdd: [{name: x-limited, value: "yes"}]}
  httpRoutes:
  - path: /books
    rateLimit: {local: {requests: 2, unit: minute}}
---
apiVersion: smimesh.io/v1alpha1
kind: ResiliencePolicy
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  requestTimeout: 3s
  httpRoutes: [{path: /slow, requestTimeout: 30s}]
---
apiVersion: smimesh.io/v1alpha1
kind: ResiliencePolicy
metadata: {name: bookstore-v1, namespace: bookstore}
spec:
  service: bookstore-v1
  outlierDetection: {consecutive5xx: 3, interval: 1s, baseEjectionTime: 2s, maxEjectionPercent: 50}
"""


def _data(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def _named(resources: list[Any], name: str) -> dict[str, Any]:
    return _data(next(m for m in resources if m.name == name))


def _vhost(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in config["virtual_hosts"] if v["name"] == name)


def test_a_mesh_without_policy_generates_the_same_messages_and_has_no_resilience() -> None:
    model = bookstore_model()
    assert model.resilience is None
    for node in model.instances:
        view = proxy_view(model, node)
        assert view.resilience is None
        assert generate(view) == generate(view)  # pure, and apply() passed the dict through untouched


def test_retry_and_timeouts_apply_to_the_callers_routes_only_for_its_identity() -> None:
    model = bookstore_model(POLICY)
    routes = generate(proxy_view(model, BUYER))[type_urls.ROUTE]
    vhost = _vhost(_named(routes, "outbound_http"), "bookstore|bookstore|80")
    retrying, plain = vhost["routes"][0], vhost["routes"][1]
    policy = retrying["route"]["retry_policy"]
    assert policy["retry_on"] == "5xx,reset" and policy["num_retries"] == 4
    assert policy["per_try_timeout"] == "0.250s"
    assert {
        "name": ":method",
        "string_match": {"safe_regex": {"regex": "DELETE|GET|HEAD|OPTIONS|PUT|TRACE"}},
    } in (retrying["match"]["headers"])
    assert "retry_policy" not in plain["route"]  # POST and the other non-idempotent methods: no retries
    assert {r["route"]["timeout"] for r in vhost["routes"]} == {"3s", "30s"}
    slow = next(r for r in vhost["routes"] if r["route"]["timeout"] == "30s")
    assert slow["match"]["safe_regex"]["regex"] == "(?:/slow).*"
    # the warehouse calls the bookstore too (no TrafficTarget in plain view aside): no Retry names it
    warehouse_routes = generate(proxy_view(model, WAREHOUSE))[type_urls.ROUTE]
    for config in warehouse_routes:
        assert "retry_policy" not in str(_data(config))


def test_connection_settings_and_outlier_detection_on_the_callers_cluster() -> None:
    model = bookstore_model(POLICY)
    clusters = generate(proxy_view(model, BUYER))[type_urls.CLUSTER]
    cluster = _named(clusters, "outbound|bookstore|bookstore-v1|80")
    [threshold] = cluster["circuit_breakers"]["thresholds"]
    assert threshold == {"max_connections": 5, "max_pending_requests": 2, "max_requests": 7, "max_retries": 4}
    assert cluster["connect_timeout"] == "2s"
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options["common_http_protocol_options"]["max_requests_per_connection"] == 3
    assert cluster["outlier_detection"]["consecutive_5xx"] == 3
    assert cluster["outlier_detection"]["base_ejection_time"] == "2s"
    untouched = _named(clusters, "outbound|bookstore|bookstore-v2|80")
    assert "circuit_breakers" not in untouched and "outlier_detection" not in untouched


def test_local_rate_limits_on_the_destinations_inbound_listener_and_per_path_route() -> None:
    model = bookstore_model(POLICY)
    listeners = generate(proxy_view(model, BOOKSTORE_V1))[type_urls.LISTENER]
    manager = _named(listeners, "inbound|http")["filter_chains"][0]["filters"][0]["typed_config"]
    names = [f["name"] for f in manager["http_filters"]]
    assert names == ["envoy.filters.http.local_ratelimit", "envoy.filters.http.router"]
    limiter = manager["http_filters"][0]["typed_config"]
    assert limiter["token_bucket"] == {"max_tokens": 15, "tokens_per_fill": 10, "fill_interval": "1s"}
    assert limiter["status"] == {"code": "ServiceUnavailable"}
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    books = routes[0]
    assert books["match"]["safe_regex"]["regex"] == "(?:/books).*"
    per_route = books["typed_per_filter_config"]["envoy.filters.http.local_ratelimit"]
    assert per_route["token_bucket"] == {"max_tokens": 2, "tokens_per_fill": 2, "fill_interval": "60s"}
    # the caller's sidecar has no limiter: rate limits are the destination's
    buyer = generate(proxy_view(model, BUYER))[type_urls.LISTENER]
    assert "local_ratelimit" not in str([_data(x) for x in buyer])


@pytest.mark.envoy
def test_envoy_accepts_the_config_of_every_sidecar_with_policy(tmp_path: Path) -> None:
    tcp = """
apiVersion: v1
kind: Service
metadata: {name: db, namespace: bookstore}
spec:
  selector: {app: warehouse}
  ports: [{name: tcp-db, port: 5432, targetPort: 8080}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: db, namespace: bookstore}
spec:
  host: db
  connectionSettings: {tcp: {maxConnections: 2}}
  rateLimit: {local: {tcp: {connections: 3, unit: minute, burst: 1}}}
"""
    result = validate_config(static_bootstrap({"policy": bookstore_model(POLICY + "---" + tcp)}), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]


def test_a_policy_change_recomputes_every_view_and_an_unrelated_change_does_not() -> None:
    from smimesh.mesh.impact import affected_nodes
    from smimesh.xds.secure_impact import secure_affected_nodes

    before, after = bookstore_model(), bookstore_model(POLICY)
    assert affected_nodes(before, after) is None and secure_affected_nodes(before, after) is None
    assert affected_nodes(after, bookstore_model(POLICY)) == frozenset()
