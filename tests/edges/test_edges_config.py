"""Egress and ingress in generated config: Envoy accepts it, and what each sidecar gets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict

sys.path.insert(0, str(Path(__file__).parents[1] / "xds"))
from test_envoy_validate import _validate, static_bootstrap

from smimesh.mesh import Instance, MeshModel, build_model, proxy_view
from smimesh.mesh.ingress import HOST_LABEL, INGRESS_ACCOUNT, INGRESS_NAMESPACE, PORT_LABEL
from smimesh.testing.bookstore import BUYER, THIEF, world, world_instances
from smimesh.xds import generate, type_urls

EDGES = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: payments, namespace: bookstore}
spec:
  sources: [{kind: ServiceAccount, name: buyer, namespace: bookstore}]
  hosts: [payments.example]
  ports: [{number: 80, protocol: http}, {number: 8443, protocol: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: bookstore}
spec:
  defaultBackend: {service: {name: bookstore, port: {number: 80}}}
  rules:
  - host: shop.local
    http:
      paths:
      - {path: /stock/, pathType: Prefix, backend: {service: {name: warehouse, port: {number: 80}}}}
      - {path: /gone, pathType: Exact, backend: {service: {name: gone, port: {number: 80}}}}
"""
INGRESS = Instance(
    INGRESS_NAMESPACE, "ingress", "ingress-0", INGRESS_ACCOUNT, {HOST_LABEL: "127.0.0.1", PORT_LABEL: "18080"}
)


def _model(egress_open: bool = False, permissive: bool = False) -> MeshModel:
    resources = world(EDGES)
    instances = [*world_instances(resources), INGRESS]
    return build_model(resources, instances, egress_open=egress_open, permissive=permissive)


def _named(messages: list[object], name: str) -> dict[str, object]:
    return MessageToDict(next(m for m in messages if m.name == name), preserving_proto_field_name=True)  # type: ignore[attr-defined]


def test_egress_vhosts_and_clusters_only_for_the_named_source() -> None:
    config = generate(proxy_view(_model(), BUYER))
    routes = _named(config[type_urls.ROUTE], "outbound_http")
    egress = [v for v in routes["virtual_hosts"] if v["name"].startswith("egress|")]  # type: ignore[union-attr]
    assert {v["name"]: v["domains"] for v in egress} == {
        "egress|payments.example|80": ["payments.example:80", "payments.example"],
        "egress|payments.example|8443": ["payments.example:8443"],
    }
    assert routes["virtual_hosts"][-1]["name"] == "unknown_host"  # type: ignore[index]
    clusters = {c.name for c in config[type_urls.CLUSTER]}  # type: ignore[attr-defined]
    assert {"egress|payments.example|80", "egress|payments.example|8443"} <= clusters
    thief = generate(proxy_view(_model(), THIEF))
    assert not [c for c in thief[type_urls.CLUSTER] if c.name.startswith("egress")]  # type: ignore[attr-defined]


def test_open_egress_sends_unknown_hosts_to_the_forward_proxy() -> None:
    config = generate(proxy_view(_model(egress_open=True), THIEF))
    routes = _named(config[type_urls.ROUTE], "outbound_http")
    assert routes["virtual_hosts"][-1]["routes"] == [  # type: ignore[index]
        {"name": "egress_open", "match": {"prefix": "/"}, "route": {"cluster": "egress_open"}}
    ]
    listener = _named(config[type_urls.LISTENER], "outbound_http")
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[index]
    assert [f["name"] for f in manager["http_filters"]] == [
        "envoy.filters.http.dynamic_forward_proxy",
        "envoy.filters.http.router",
    ]


def test_the_ingress_routes_hosts_and_paths_in_kubernetes_order() -> None:
    # permissive: every service visible, as on the secured path `smimesh up` runs
    config = generate(proxy_view(_model(permissive=True), "ingress-0.smimesh-system"))
    listener = _named(config[type_urls.LISTENER], "ingress")
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 18080}  # type: ignore[index]
    vhosts = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"]  # type: ignore[index]
    shop = vhosts[0]
    assert shop["domains"] == ["shop.local"]
    assert [r["match"] for r in shop["routes"]] == [
        {"path": "/gone"},
        {"path_separated_prefix": "/stock"},
        {"prefix": "/"},  # the default backend (any host)
        {"prefix": "/"},  # no rule: 404
    ]
    assert shop["routes"][0]["direct_response"]["status"] == 503  # Service `gone` does not exist
    assert shop["routes"][1]["route"]["cluster"] == "outbound|bookstore|warehouse|80"
    assert vhosts[-1]["domains"] == ["*"]


@pytest.mark.envoy
def test_envoy_accepts_egress_and_ingress_config(tmp_path: Path) -> None:
    result = _validate(static_bootstrap({"edges": _model(egress_open=True)}), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
