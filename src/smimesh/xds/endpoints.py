"""EDS: one ClusterLoadAssignment per outbound cluster, from the sidecar addresses that serve it.

Cached per `ClusterSpec` (service port + protocol + addresses): the same endpoint set is built once
and shared by every proxy that sees it; an endpoint change makes a new spec and so a new message.
"""

from __future__ import annotations

from functools import lru_cache

from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from smimesh.mesh.view import ClusterSpec
from smimesh.xds import names
from smimesh.xds.protos import socket_address


@lru_cache(maxsize=1 << 16)
def load_assignment(spec: ClusterSpec) -> endpoint_pb2.ClusterLoadAssignment:
    lb_endpoints = [
        endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(address=socket_address(h, p))
        )
        for h, p in spec.endpoints
    ]
    locality = endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=lb_endpoints)
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=names.outbound_cluster(spec.service, spec.port),
        endpoints=[locality] if lb_endpoints else [],
    )
