"""A small hand-built xDS world for the server tests: listener -> RDS route -> EDS cluster -> endpoint.

Valid Envoy config (the real-Envoy test serves it), independent of the mesh generators so the
server can be tested on its own. `tag` goes into a response header so a changed world is visible
in traffic; `backend` names the cluster; `invalid_listener()` is one Envoy rejects.
"""

from __future__ import annotations

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message

from smimesh.xds import type_urls

ADS = config_source_pb2.ConfigSource(ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=2)


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _address(port: int) -> address_pb2.Address:
    return address_pb2.Address(socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port))


def listener(name: str, port: int, route_name: str) -> listener_pb2.Listener:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=name,
        rds=hcm_pb2.Rds(config_source=ADS, route_config_name=route_name),
        http_filters=[
            hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=_packed(router_pb2.Router()))
        ],
    )
    chain = listener_components_pb2.FilterChain(
        filters=[
            listener_components_pb2.Filter(
                name="envoy.filters.network.http_connection_manager", typed_config=_packed(manager)
            )
        ]
    )
    return listener_pb2.Listener(name=name, address=_address(port), filter_chains=[chain])


def route(name: str, cluster: str, tag: str) -> route_pb2.RouteConfiguration:
    header = base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key="x-world", value=tag))
    host = route_components_pb2.VirtualHost(
        name="all",
        domains=["*"],
        routes=[
            route_components_pb2.Route(
                match=route_components_pb2.RouteMatch(prefix="/"),
                route=route_components_pb2.RouteAction(cluster=cluster),
            )
        ],
        response_headers_to_add=[header],
    )
    return route_pb2.RouteConfiguration(name=name, virtual_hosts=[host])


def cluster(name: str) -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=ADS),
        connect_timeout=duration_pb2.Duration(seconds=1),
    )


def endpoints(name: str, port: int) -> endpoint_pb2.ClusterLoadAssignment:
    lb = endpoint_components_pb2.LbEndpoint(endpoint=endpoint_components_pb2.Endpoint(address=_address(port)))
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=name, endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[lb])]
    )


def world(
    listen_port: int, backend_port: int, *, tag: str = "v1", backend: str = "backend"
) -> dict[str, list[Message]]:
    """One listener on `listen_port` routing everything to `backend` at 127.0.0.1:`backend_port`."""
    return {
        type_urls.CLUSTER: [cluster(backend)],
        type_urls.ENDPOINT: [endpoints(backend, backend_port)],
        type_urls.LISTENER: [listener("ingress", listen_port, "local_route")],
        type_urls.ROUTE: [route("local_route", backend, tag)],
    }


def invalid_listener(port: int) -> listener_pb2.Listener:
    """Envoy rejects it: an HTTP connection manager with no route config source at all."""
    manager = hcm_pb2.HttpConnectionManager(stat_prefix="broken")
    chain = listener_components_pb2.FilterChain(
        filters=[
            listener_components_pb2.Filter(
                name="envoy.filters.network.http_connection_manager", typed_config=_packed(manager)
            )
        ]
    )
    return listener_pb2.Listener(name="ingress", address=_address(port), filter_chains=[chain])
