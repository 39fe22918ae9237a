"""CDS: the outbound cluster of each service port (endpoints via EDS over ADS) and the local app clusters
(one per inbound port, plus a copy per counted HTTPRouteGroup match route: `route_cluster`).

Pure and cached: a cluster depends only on its service port and protocol, so it is built once per
content and the same message object is shared by every proxy that needs it (callers must not
mutate returned messages). mTLS comes in through the `upstream_transport_socket` seam, given the
cluster's `UpstreamTls` (None: the plain setting).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, protocol_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as http_options

from smimesh.identity.spiffe import SpiffeId
from smimesh.mesh.model import Protocol, ServiceKey
from smimesh.mesh.view import InboundSpec
from smimesh.xds import names, secrets
from smimesh.xds.protos import ads_source, packed, seconds, socket_address

CONNECT_TIMEOUT_S = 1.0
# Stands in for "no identity": a cluster whose service has no endpoints yet expects a peer that
# can never exist, so it fails closed rather than trusting any certificate of the trust domain.
NO_PEER = "smimesh-no-endpoints"
_CACHE_SIZE = 1 << 16


def _use_http2(cluster: cluster_pb2.Cluster) -> None:
    """gRPC upstreams speak HTTP/2 (prior knowledge); plain HTTP stays HTTP/1.1."""
    options = http_options.HttpProtocolOptions(
        explicit_http_config=http_options.HttpProtocolOptions.ExplicitHttpConfig(
            http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
        )
    )
    cluster.typed_extension_protocol_options[names.HTTP_PROTOCOL_OPTIONS].CopyFrom(packed(options))


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    """mTLS to a mesh upstream: accept only a server whose URI SAN is one of `peers` (none: the service
    has no endpoints yet, so no certificate is trusted: it fails closed)."""

    trust_domain: str
    peers: tuple[SpiffeId, ...]


def upstream_transport_socket(tls: UpstreamTls | None) -> base_pb2.TransportSocket | None:
    """mTLS to mesh upstreams with the sidecar's own certificate; None means plaintext on loopback.
    The certificate is named per proxy (`secrets.OWN_CERTIFICATE`), not per identity, so one cluster
    message serves every caller."""
    if tls is None:
        return None
    expected = tls.peers or (SpiffeId(tls.trust_domain, NO_PEER, NO_PEER),)
    own = SpiffeId(tls.trust_domain, NO_PEER, NO_PEER)  # replaced by OWN_CERTIFICATE just below
    context = secrets.present_own_certificate(secrets.upstream_tls_context(own, expected))
    return secrets.transport_socket(context)


@lru_cache(maxsize=_CACHE_SIZE)
def outbound_cluster(
    service: ServiceKey, port: int, protocol: Protocol, tls: UpstreamTls | None = None
) -> cluster_pb2.Cluster:
    name = names.outbound_cluster(service, port)
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        eds_cluster_config=cluster_pb2.Cluster.EdsClusterConfig(eds_config=ads_source(), service_name=name),
        connect_timeout=seconds(CONNECT_TIMEOUT_S),
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN,
    )
    if protocol is Protocol.GRPC:
        _use_http2(cluster)
    socket = upstream_transport_socket(tls)
    if socket is not None:
        cluster.transport_socket.CopyFrom(socket)
    return cluster


@lru_cache(maxsize=_CACHE_SIZE)
def local_app_cluster(spec: InboundSpec) -> cluster_pb2.Cluster:
    """The app behind one Workload port, on loopback where the runtime told it to listen."""
    return _local_app(spec, names.inbound_cluster(spec.name))


def route_cluster(spec: InboundSpec, route: str) -> cluster_pb2.Cluster:
    """The local app cluster again, named for the per-match route `route` (`names.route_cluster`):
    same endpoint and settings, its own stats (xds/route_stats.py says why)."""
    return _local_app(spec, names.route_cluster(spec.name, route))


def _local_app(spec: InboundSpec, name: str) -> cluster_pb2.Cluster:
    endpoint = endpoint_components_pb2.LbEndpoint(
        endpoint=endpoint_components_pb2.Endpoint(address=socket_address(spec.host, spec.app_port))
    )
    cluster = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.STATIC,
        connect_timeout=seconds(CONNECT_TIMEOUT_S),
        load_assignment=endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=[endpoint])],
        ),
    )
    if spec.protocol is Protocol.GRPC:
        _use_http2(cluster)
    return cluster
