"""Path (b): a hand-written minimal static Envoy pair with mTLS — the best Envoy can do here.

(Also `tls=False`, the same pair in plain text: the fair reference while a mesh path runs without
mTLS, and the cost of mTLS itself when set beside the mTLS pair.)

client Envoy: plain HTTP/1.1 listener -> one STATIC cluster over mTLS -> server Envoy: mTLS listener
(client certificate required, peer URI SAN checked) -> one STATIC cluster -> backend. With a split
(`split_client_bootstrap`), the client's one route is a 50/50 weighted_clusters over two server Envoys
(each with its own backend): the same split smimesh's split path carries, and nothing more. TLS 1.3 only and
ECDSA P-256 leaves with SPIFFE URI SANs, as the mesh does; no RBAC, no stats sinks, no access logs,
no xDS: only what the request needs. Each Envoy runs with `--concurrency 1`, like a smimesh sidecar.
"""

from __future__ import annotations

from typing import Any

from bench.dataplane.certs import Pem, spiffe_uri

TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def _address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _common_tls(own: Pem, ca: Pem, peer_sa: str) -> dict[str, Any]:
    return {
        "tls_params": {"tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3"},
        "tls_certificates": [
            {"certificate_chain": {"inline_string": own.cert}, "private_key": {"inline_string": own.key}}
        ],
        "validation_context": {
            "trusted_ca": {"inline_string": ca.cert},
            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": spiffe_uri(peer_sa)}}],
        },
    }


def _cluster(name: str, port: int, tls: dict[str, Any] | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(port)}}]}],
        },
    }
    if tls is not None:
        cluster["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": tls}
    return cluster


def _http_listener(
    name: str, port: int, cluster: str | list[str], tls: dict[str, Any] | None = None
) -> dict[str, Any]:
    """HTTP/1.1 listener with one route to `cluster`, or an even weighted split over a list of clusters."""
    if isinstance(cluster, str):
        action: dict[str, Any] = {"cluster": cluster}
    else:
        weights = [{"name": c, "weight": 100 // len(cluster)} for c in cluster]
        action = {"weighted_clusters": {"clusters": weights}}
    route = {"match": {"prefix": "/"}, "route": action}
    manager = {
        "@type": HCM,
        "stat_prefix": name,
        "codec_type": "HTTP1",
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }
    chain: dict[str, Any] = {
        "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]
    }
    if tls is not None:
        chain["transport_socket"] = {"name": "envoy.transport_sockets.tls", "typed_config": tls}
    return {"name": name, "address": _address(port), "filter_chains": [chain]}


def _bootstrap(admin_port: int, listener: dict[str, Any], *clusters: dict[str, Any]) -> dict[str, Any]:
    return {
        "admin": {"address": _address(admin_port)},
        "static_resources": {"listeners": [listener], "clusters": list(clusters)},
    }


def client_bootstrap(ports: dict[str, int], ca: Pem, own: Pem, *, tls: bool = True) -> dict[str, Any]:
    """Listens on ports['client_listen'] (plain), sends to ports['server_listen'] over mTLS (or plain)."""
    upstream: dict[str, Any] | None = None
    if tls:
        upstream = {"@type": TLS + "UpstreamTlsContext", "common_tls_context": _common_tls(own, ca, "server")}
    listener = _http_listener("client_out", ports["client_listen"], "server")
    return _bootstrap(ports["client_admin"], listener, _cluster("server", ports["server_listen"], upstream))


def split_client_bootstrap(ports: dict[str, int], ca: Pem, own: Pem, servers: list[str]) -> dict[str, Any]:
    """Plain listener on ports['client_listen'], split evenly over mTLS clusters to ports[<server>]."""
    upstream = {"@type": TLS + "UpstreamTlsContext", "common_tls_context": _common_tls(own, ca, "server")}
    listener = _http_listener("client_out", ports["client_listen"], servers)
    clusters = [_cluster(name, ports[name], upstream) for name in servers]
    return _bootstrap(ports["client_admin"], listener, *clusters)


def server_bootstrap(ports: dict[str, int], ca: Pem, own: Pem, *, tls: bool = True) -> dict[str, Any]:
    """Accepts mTLS (client certificate required) or plain on ports['server_listen'], sends to the backend."""
    downstream: dict[str, Any] | None = {
        "@type": TLS + "DownstreamTlsContext",
        "common_tls_context": _common_tls(own, ca, "client"),
        "require_client_certificate": True,
    }
    if not tls:
        downstream = None
    listener = _http_listener("server_in", ports["server_listen"], "backend", downstream)
    return _bootstrap(ports["server_admin"], listener, _cluster("backend", ports["backend"]))
