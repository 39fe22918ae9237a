"""names (one module, names parse back) and the sidecar bootstrap (a valid Envoy Bootstrap proto)."""

from __future__ import annotations

import pytest
from envoy.config.bootstrap.v3 import bootstrap_pb2
from google.protobuf.json_format import ParseDict

from smimesh.mesh import ServiceKey
from smimesh.mesh.model import Identity
from smimesh.mesh.names import parse_spiffe_id, service_hostnames
from smimesh.xds import build_bootstrap, names


def test_outbound_cluster_names_round_trip() -> None:
    key = ServiceKey("bookstore", "bookstore-v1")
    assert names.outbound_cluster(key, 80) == "outbound|bookstore|bookstore-v1|80"
    assert names.parse_outbound_cluster(names.outbound_cluster(key, 80)) == (key, 80)
    assert names.parse_outbound_cluster("local_app|http") is None
    assert names.parse_outbound_cluster("outbound|a|b|x") is None


def test_hostnames_short_name_only_in_own_namespace() -> None:
    key = ServiceKey("shop", "cart")
    assert service_hostnames(key, "shop")[0] == "cart"
    assert "cart" not in service_hostnames(key, "other")
    assert "cart.shop.svc.example.org" in service_hostnames(key, "other", "example.org")


def test_spiffe_ids_parse_back() -> None:
    ident = Identity("ns1", "sa1")
    assert parse_spiffe_id(ident.spiffe("td")) == ("td", ident)
    assert parse_spiffe_id("spiffe://td/ns1/sa1") is None
    assert parse_spiffe_id("https://td/ns/a/sa/b") is None


@pytest.mark.parametrize("delta", [False, True])
def test_bootstrap_is_a_valid_proto(delta: bool) -> None:
    data = build_bootstrap(
        "buyer-0.bookstore", "buyer", "127.0.0.1", 15010, 19000, delta=delta, metadata={"a": "b"}
    )
    proto = ParseDict(data, bootstrap_pb2.Bootstrap())
    assert proto.node.id == "buyer-0.bookstore" and proto.node.cluster == "buyer"
    ads = proto.dynamic_resources.ads_config
    assert ads.api_type == (ads.DELTA_GRPC if delta else ads.GRPC)
    assert ads.grpc_services[0].envoy_grpc.cluster_name == names.ADS_CLUSTER
    assert proto.admin.address.socket_address.address == "127.0.0.1"
    assert proto.admin.address.socket_address.port_value == 19000
    xds = proto.static_resources.clusters[0]
    assert (
        xds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value == 15010
    )
    assert proto.dynamic_resources.lds_config.HasField("ads") and proto.dynamic_resources.cds_config.HasField(
        "ads"
    )


@pytest.mark.parametrize("match", ["books", "a.b", "v1:read", "100%", "%2E", ""])
def test_a_route_cluster_names_its_route_without_dots(match: str) -> None:
    """Envoy cuts stat names at dots (and writes `:` as `_`): a route cluster's name has neither, and
    parses back to its port and route whatever the HTTPRouteGroup and match are called."""
    route = names.route_name("shop", "web.routes", match)
    cluster = names.route_cluster("http", route)
    assert "." not in cluster and ":" not in cluster
    assert names.parse_route_cluster(cluster) == ("http", route)
    assert names.parse_route_cluster(names.inbound_cluster("http")) is None
    assert names.parse_route_cluster(f"{cluster}.external") is None
