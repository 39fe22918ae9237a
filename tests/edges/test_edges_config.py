"""Egress and ingress in generated config: Envoy accepts it, and what each sidecar gets."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict

from smimesh.mesh import Instance, MeshModel, build_model, proxy_view
from smimesh.mesh.ingress import HOST_LABEL, INGRESS_ACCOUNT, INGRESS_NAMESPACE, PORT_LABEL
from smimesh.testing.bookstore import BUYER, THIEF, world, world_instances
from smimesh.testing.envoy_validate import static_bootstrap, validate_config
from smimesh.xds import generate, type_urls
from smimesh.xds.egress_connect import ipv4_prefixes

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
        {"name": "egress_open", "match": {"connect_matcher": {}}, "route": _tunnel_to("egress_open")},
        {"name": "egress_open", "match": {"prefix": "/"}, "route": {"cluster": "egress_open"}},
    ]
    listener = _named(config[type_urls.LISTENER], "outbound_http")
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[index]
    assert [f["name"] for f in manager["http_filters"]] == [
        "envoy.filters.http.dynamic_forward_proxy",
        "envoy.filters.http.router",
    ]
    assert manager["upgrade_configs"] == [{"upgrade_type": "CONNECT"}]


def _tunnel_to(cluster: str) -> dict[str, object]:
    return {"cluster": cluster, "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}]}


TUNNELS = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: tunnels, namespace: bookstore}
spec:
  sources: [{kind: ServiceAccount, name: buyer, namespace: bookstore}]
  hosts: [api.example, "*.cdn.example"]
  ports: [{number: 443, protocol: https}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: database, namespace: bookstore}
spec:
  sources: [{kind: ServiceAccount, name: buyer, namespace: bookstore}]
  ipAddresses: [10.1.0.0/23, 192.0.2.7/32]
  ports: [{number: 5432, protocol: tcp}, {number: 6379, protocol: tcp-server-first}]
"""


def _tunnel_model() -> MeshModel:
    resources = world(TUNNELS)
    return build_model(resources, world_instances(resources))


def test_https_hosts_and_tcp_ranges_become_connect_routes_and_anything_else_is_refused() -> None:
    config = generate(proxy_view(_tunnel_model(), BUYER))
    vhosts = {v["name"]: v for v in _named(config[type_urls.ROUTE], "outbound_http")["virtual_hosts"]}  # type: ignore[union-attr]
    api = vhosts["egress|api.example|443"]
    assert api["domains"] == ["api.example:443"]
    assert api["routes"] == [
        {
            "name": "Egress/bookstore/tunnels",
            "match": {"connect_matcher": {}},
            "route": _tunnel_to("egress|api.example|443"),
        }
    ]
    assert vhosts["egress|*.cdn.example|443"]["routes"][0]["route"] == _tunnel_to("egress_forward")
    catch_all = vhosts["unknown_host"]["routes"]
    tcp = [r for r in catch_all if r["name"] == "Egress/bookstore/database"]
    headers = [[h.get("string_match") for h in r["match"]["headers"]] for r in tcp]
    # 10.1.0.0/23 is 10.1.0.* and 10.1.1.*; 192.0.2.7/32 exactly; each on both ports, IPv4 literals only
    assert headers == [
        [{"prefix": prefix}, {"safe_regex": {"regex": f"[0-9.]+:{port}"}}]
        for port in (5432, 6379)
        for prefix in ("10.1.0.", "10.1.1.", "192.0.2.7:")
    ]
    assert all(r["route"] == _tunnel_to("egress_forward") for r in tcp)
    refused = catch_all[len(tcp)]
    assert refused["match"] == {"connect_matcher": {}} and refused["direct_response"]["status"] == 403
    assert "smimesh: no Egress lets" in refused["direct_response"]["body"]["inline_string"]
    assert catch_all[-1]["direct_response"]["status"] == 403  # plain HTTP to an unknown host, as before
    clusters = {c.name for c in config[type_urls.CLUSTER]}  # type: ignore[attr-defined]
    assert {"egress|api.example|443", "egress_forward"} <= clusters and "egress_open" not in clusters
    assert not any("cdn" in name for name in clusters)


@pytest.mark.parametrize(
    ("network", "prefixes"),
    [
        ("127.0.0.2/32", ["127.0.0.2:"]),
        ("127.0.0.0/24", ["127.0.0."]),
        ("10.0.0.0/8", ["10."]),
        ("172.16.0.0/12", [f"172.{n}." for n in range(16, 32)]),
        ("127.0.0.4/30", ["127.0.0.4:", "127.0.0.5:", "127.0.0.6:", "127.0.0.7:"]),
        ("0.0.0.0/0", []),
    ],
)
def test_ipv4_prefixes_cover_exactly_the_range(network: str, prefixes: list[str]) -> None:
    assert ipv4_prefixes(network) == prefixes


def test_the_ingress_routes_hosts_and_paths_in_kubernetes_order() -> None:
    # permissive: every service visible (open mode)
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
    assert shop["routes"][0]["direct_response"]["status"] == 403  # Service `gone` does not exist
    assert shop["routes"][1]["route"]["cluster"] == "outbound|bookstore|warehouse|80"
    assert vhosts[-1]["domains"] == ["*"]


@pytest.mark.envoy
def test_envoy_accepts_egress_and_ingress_config(tmp_path: Path) -> None:
    result = validate_config(static_bootstrap({"edges": _model(egress_open=True)}), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]


@pytest.mark.envoy
def test_envoy_accepts_connect_egress_config(tmp_path: Path) -> None:
    result = validate_config(static_bootstrap({"tunnels": _tunnel_model()}), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]


def test_ipv6_ranges_become_connect_patterns_of_the_compressed_form() -> None:
    text = TUNNELS.replace(
        "ipAddresses: [10.1.0.0/23, 192.0.2.7/32]", 'ipAddresses: ["2001:db8:e::/48", "::1/128"]'
    )
    resources = world(text)
    config = generate(proxy_view(build_model(resources, world_instances(resources)), BUYER))
    vhosts = {v["name"]: v for v in _named(config[type_urls.ROUTE], "outbound_http")["virtual_hosts"]}  # type: ignore[union-attr]
    tcp = [r for r in vhosts["unknown_host"]["routes"] if r["name"] == "Egress/bookstore/database"]
    regexes = [h["string_match"]["safe_regex"]["regex"] for r in tcp for h in r["match"]["headers"]]
    assert regexes == [
        rf"\[{prefix}\]:{port}" for port in (5432, 6379) for prefix in ("2001:db8:e:[0-9a-f:]+", "::1")
    ]
