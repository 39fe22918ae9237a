"""Per-HTTPRouteGroup-match routes count their requests on their own cluster, not a route stat_prefix.

Envoy builds a route's stat names per request (`vhost.*.route.<stat_prefix>.*`, ~4k instructions on
the destination sidecar), while a cluster's stats are made once: so each counted route forwards to a
copy of the port's local app cluster (`names.route_cluster`), which must be in CDS exactly when its
route is in RDS. And the HTTP RBAC filter keeps no per-policy counters (`track_per_rule_stats`:
a counter looked up per request by a built name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from envoy.extensions.filters.http.rbac.v3 import rbac_pb2 as http_rbac
from tests.xds.conftest import WORLDS

from smimesh.testing.bookstore import BOOKSTORE_V1, BUYER
from smimesh.testing.secured import SecuredWorld, world_resources
from smimesh.xds import names, type_urls
from smimesh.xds.rbac import HTTP_RBAC_FILTER


def _inbound_routes(config: dict[str, list[Any]]) -> list[Any]:
    return [
        route
        for table in config[type_urls.ROUTE]
        if table.name.startswith("inbound|")
        for vhost in table.virtual_hosts
        for route in vhost.routes
    ]


@pytest.mark.parametrize(("name", "mode"), WORLDS)
def test_each_counted_route_has_its_own_cluster_and_no_stat_prefix(
    worlds: dict, name: str, mode: str
) -> None:
    for node, config in worlds[name, mode].configs.items():
        clusters = {c.name: c for c in config[type_urls.CLUSTER]}
        counted = [r for r in _inbound_routes(config) if names.parse_route_stat_name(r.name)]
        for route in counted:
            assert not route.stat_prefix, (node, route.name)
            port, routed = names.parse_route_cluster(route.route.cluster) or ("", "")
            assert routed == route.name, (node, route.route.cluster)
            copy, app = clusters[route.route.cluster], clusters[names.inbound_cluster(port)]
            assert copy.load_assignment.endpoints == app.load_assignment.endpoints
            assert copy.typed_extension_protocol_options == app.typed_extension_protocol_options
        # and no route cluster without its route (a removed match takes its cluster along)
        route_clusters = {c for c in clusters if names.parse_route_cluster(c)}
        assert route_clusters == {r.route.cluster for r in counted}, node
    if mode != "open" and name == "bookstore":
        assert _inbound_routes(worlds[name, mode].configs[BOOKSTORE_V1])[0].route.cluster == (
            "local_app|http|HTTPRouteGroup/bookstore/bookstore-routes#books"
        )


@pytest.mark.parametrize("mode", ["strict", "permissive-audit"])
def test_no_per_policy_rbac_counters(worlds: dict, mode: str) -> None:
    for config in worlds["bookstore", mode].configs.values():
        for table in config[type_urls.ROUTE]:
            for vhost in table.virtual_hosts:
                if HTTP_RBAC_FILTER in vhost.typed_per_filter_config:
                    per_route = http_rbac.RBACPerRoute()
                    vhost.typed_per_filter_config[HTTP_RBAC_FILTER].Unpack(per_route)
                    assert not per_route.rbac.track_per_rule_stats, table.name


def test_a_request_is_sent_to_its_match_cluster_on_the_apps_endpoint(worlds: dict) -> None:
    world = worlds["bookstore", "strict"]
    hop = world.request(BUYER, "bookstore", "/books/1")
    assert hop.server == BOOKSTORE_V1 and hop.outcome.status is None, hop
    route = "HTTPRouteGroup/bookstore/bookstore-routes#books"
    assert hop.outcome.route == route
    assert [c for c, _ in hop.outcome.clusters] == [names.route_cluster("http", route)]
    app = world.simulator(BOOKSTORE_V1).cluster_endpoints(names.inbound_cluster("http"))
    assert list(hop.outcome.endpoints.values()) == [app]


def test_the_route_clusters_are_shared_messages(tmp_path: Path) -> None:
    """Generated twice from the same view, the copies are the same objects (the snapshot serializes
    each once, like every other cluster)."""
    world = SecuredWorld(tmp_path, world_resources("bookstore"))
    view = world.security.proxy_view(world.model, BOOKSTORE_V1)
    first, again = (world.security.generate(view)[type_urls.CLUSTER] for _ in range(2))
    copies = [c for c in first if names.parse_route_cluster(c.name)]
    assert copies and all(any(c is d for d in again) for c in copies)
