"""The Envoy bootstrap of a sidecar: who it is, where its control plane is, and its admin on loopback.

Everything else (listeners, clusters, routes, endpoints) arrives dynamically over one ADS stream,
state-of-the-world (`GRPC`) or incremental (`DELTA_GRPC`). Returned as a JSON-able dict; the runtime
writes it as the sidecar's `-c` file. Envoy keeps serving its last config while the control plane
is away and reconnects by itself (gRPC retry with backoff).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smimesh.settings import LOOPBACK
from smimesh.xds import names

XDS_CONNECT_TIMEOUT_S = 1.0
XDS_KEEPALIVE_INTERVAL_S = 30
XDS_KEEPALIVE_TIMEOUT_S = 5
MAX_DOWNSTREAM_CONNECTIONS = 50_000
# Envoy merges latency histograms into what its admin endpoint shows only at a stats flush (default
# every 5 s) while counters are live: flushing at the scrape interval keeps percentiles in step with
# counts. Envoy accepts 1 ms to 5 min.
STATS_FLUSH_INTERVAL_S = 1.0
_MIN_FLUSH_S, _MAX_FLUSH_S = 0.001, 300.0


def _config_source() -> dict[str, Any]:
    return {"ads": {}, "resource_api_version": "V3"}


def _xds_cluster(xds_host: str, xds_port: int) -> dict[str, Any]:
    """The one static cluster: the control plane's gRPC server, HTTP/2 with keepalives."""
    address = {"socket_address": {"address": xds_host, "port_value": xds_port}}
    http2 = {
        "@type": "type.googleapis.com/" + names.HTTP_PROTOCOL_OPTIONS,
        "explicit_http_config": {
            "http2_protocol_options": {
                "connection_keepalive": {
                    "interval": f"{XDS_KEEPALIVE_INTERVAL_S}s",
                    "timeout": f"{XDS_KEEPALIVE_TIMEOUT_S}s",
                }
            }
        },
    }
    return {
        "name": names.ADS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": f"{XDS_CONNECT_TIMEOUT_S}s",
        "typed_extension_protocol_options": {names.HTTP_PROTOCOL_OPTIONS: http2},
        "load_assignment": {
            "cluster_name": names.ADS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }


_ADMIN_LAYER = {"name": "admin", "admin_layer": {}}


def build_bootstrap(
    node_id: str,
    cluster: str,
    xds_host: str,
    xds_port: int,
    admin_port: int,
    *,
    delta: bool = False,
    admin_host: str = LOOPBACK,
    metadata: Mapping[str, str] | None = None,
    stats_flush_interval_s: float = STATS_FLUSH_INTERVAL_S,
) -> dict[str, Any]:
    """Bootstrap for the sidecar `node_id` (`cluster` is its workload, used by Envoy in stats and logs)."""
    ads = {
        "api_type": "DELTA_GRPC" if delta else "GRPC",
        "transport_api_version": "V3",
        "grpc_services": [{"envoy_grpc": {"cluster_name": names.ADS_CLUSTER}}],
        "set_node_on_first_message_only": True,
    }
    runtime_layer = {"overload": {"global_downstream_max_connections": MAX_DOWNSTREAM_CONNECTIONS}}
    return {
        "node": {"id": node_id, "cluster": cluster, "metadata": dict(metadata or {})},
        "admin": {"address": {"socket_address": {"address": admin_host, "port_value": admin_port}}},
        "static_resources": {"clusters": [_xds_cluster(xds_host, xds_port)]},
        "dynamic_resources": {
            "ads_config": ads,
            "lds_config": _config_source(),
            "cds_config": _config_source(),
        },
        # The admin layer lets the control plane switch a sidecar's request log on and off
        # (`smimesh tap`: POST /runtime_modify?smimesh.tap=100, xds/access_log.py).
        "layered_runtime": {"layers": [{"name": "static", "static_layer": runtime_layer}, _ADMIN_LAYER]},
        "stats_flush_interval": _duration(min(max(stats_flush_interval_s, _MIN_FLUSH_S), _MAX_FLUSH_S)),
    }


def _duration(seconds: float) -> str:
    """A protobuf JSON Duration ("1s", "0.500s"): whole milliseconds, which Envoy's flush timer uses."""
    return f"{round(seconds * 1000) / 1000:.3f}".rstrip("0").rstrip(".") + "s"
