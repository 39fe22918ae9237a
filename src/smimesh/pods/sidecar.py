"""The sidecar in a pod: its Envoy bootstrap, rendered at start from what only the running pod knows.

`pod_bootstrap(pod, settings)` = `xds.bootstrap.build_bootstrap` for node `<pod>.<namespace>` (the node id
the control plane gives the pod's config to), with the projected token as the ADS stream's
`authorization: Bearer` metadata (checked by TokenReview, issue 12) and the same token on the request
log sent to the control plane (`control_plane_telemetry`), plus one static listener on the
health port (plaintext, not captured, reachable by kubelet and Prometheus), whose exact paths are:
`/app-health/<container>/<kind>` -> the app's original probe target on loopback (`SMIMESH_APP_PROBES`),
`/stats/prometheus` and `/stats` -> the admin's (the only admin paths exposed, both read-only: what
Prometheus and the control plane's SMI metrics scraper read), `/smimesh/capture` -> 200 (what the
capture canary reaches, `ready.capture_in_force`), anything else 404. Static clusters are plain (no SDS),
which the bootstrap allows (docs/architecture.md on envoyproxy/envoy#15517).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smimesh.pods.layout import PodLayout
from smimesh.xds import names
from smimesh.xds.access_log import RUNTIME_LAYER, TELEMETRY_CLUSTER
from smimesh.xds.bootstrap import build_bootstrap

ADMIN_CLUSTER = "smimesh_admin"
CAPTURE_PATH = "/smimesh/capture"
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


@dataclass(frozen=True, slots=True)
class PodIdentity:
    name: str
    namespace: str
    service_account: str
    token: str
    probes: Mapping[str, Mapping[str, Any]]  # health path -> {port, path, scheme}

    @property
    def node_id(self) -> str:
        return f"{self.name}.{self.namespace}"

    @classmethod
    def from_environment(cls, env: Mapping[str, str], token: str) -> PodIdentity:
        probes = json.loads(env.get("SMIMESH_APP_PROBES") or "{}")
        return cls(
            env["POD_NAME"], env["POD_NAMESPACE"], env.get("SERVICE_ACCOUNT", "default"), token, probes
        )


def pod_bootstrap(pod: PodIdentity, layout: PodLayout, xds_host: str, xds_port: int) -> dict[str, Any]:
    cluster = f"{pod.service_account}.{pod.namespace}"
    bootstrap = build_bootstrap(pod.node_id, cluster, xds_host, xds_port, layout.admin_port)
    ads = bootstrap["dynamic_resources"]["ads_config"]["grpc_services"][0]
    ads["initial_metadata"] = [{"key": "authorization", "value": f"Bearer {pod.token}"}]
    control_plane_telemetry(bootstrap, pod.token)
    static = bootstrap["static_resources"]
    static["clusters"] += [_loopback_cluster(ADMIN_CLUSTER, layout.admin_port)]
    static["clusters"] += [_probe_cluster(t) for t in _unique_targets(pod.probes)]
    static["listeners"] = [health_listener(pod.probes, layout)]
    return bootstrap


def control_plane_telemetry(bootstrap: dict[str, Any], token: str) -> None:
    """What a pod's sidecar needs to send its request log to the control plane and to be tapped
    (`xds/access_log.py`): the cluster `smimesh_telemetry` (the xDS server again, whose upstream
    filter adds `authorization: Bearer <token>` to each call: Envoy's access loggers take no
    per-sidecar metadata from xDS, and the token must not travel in shared config), and the RTDS
    layer `smimesh` between the static and admin layers, where the controller sets `smimesh.tap`.
    A controller that does not answer for the layer holds the sidecar's start up 5 s at most."""
    static = bootstrap["static_resources"]
    xds = next(c for c in static["clusters"] if c["name"] == names.ADS_CLUSTER)
    telemetry = copy.deepcopy(xds) | {"name": TELEMETRY_CLUSTER}
    telemetry["load_assignment"]["cluster_name"] = TELEMETRY_CLUSTER
    options = telemetry["typed_extension_protocol_options"][names.HTTP_PROTOCOL_OPTIONS]
    options["http_filters"] = [_add_header("authorization", f"Bearer {token}"), _UPSTREAM_CODEC]
    static["clusters"].append(telemetry)
    rtds = {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": "5s"}
    layers = bootstrap["layered_runtime"]["layers"]
    layers.insert(
        len(layers) - 1, {"name": RUNTIME_LAYER, "rtds_layer": {"name": RUNTIME_LAYER, "rtds_config": rtds}}
    )


_UPSTREAM_CODEC = {
    "name": "envoy.filters.http.upstream_codec",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
    },
}


def _add_header(key: str, value: str) -> dict[str, Any]:
    header = {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
    mutation = {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        "mutations": {"request_mutations": [{"append": header}]},
    }
    return {"name": "envoy.filters.http.header_mutation", "typed_config": mutation}


def _unique_targets(probes: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    seen: dict[str, Mapping[str, Any]] = {}
    for target in probes.values():
        seen.setdefault(_probe_cluster_name(target), target)
    return list(seen.values())


def _probe_cluster_name(target: Mapping[str, Any]) -> str:
    return f"app_probe|{str(target.get('scheme', 'HTTP')).lower()}|{target['port']}"


def _loopback_cluster(name: str, port: int) -> dict[str, Any]:
    address = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }


def _probe_cluster(target: Mapping[str, Any]) -> dict[str, Any]:
    cluster = _loopback_cluster(_probe_cluster_name(target), int(target["port"]))
    if str(target.get("scheme", "HTTP")).upper() == "HTTPS":  # kubelet does not verify either
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {"@type": TLS_TYPE},
        }
    return cluster


def health_listener(probes: Mapping[str, Mapping[str, Any]], layout: PodLayout) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [
        {"match": {"path": "/stats/prometheus"}, "route": {"cluster": ADMIN_CLUSTER}},
        # the control plane's scraper (telemetry/scrape.py: /stats?format=json&filter=...); read-only
        {"match": {"path": "/stats"}, "route": {"cluster": ADMIN_CLUSTER}},
        {
            "match": {"path": CAPTURE_PATH},
            "direct_response": {"status": 200, "body": {"inline_string": "capture in force\n"}},
        },
    ]
    for path, target in sorted(probes.items()):
        route = {"cluster": _probe_cluster_name(target), "prefix_rewrite": str(target.get("path") or "/")}
        routes.append({"match": {"path": path}, "route": route})
    routes.append(
        {
            "match": {"prefix": "/"},
            "direct_response": {"status": 404, "body": {"inline_string": "not a health path\n"}},
        }
    )
    manager = {
        "@type": HCM_TYPE,
        "stat_prefix": "smimesh_health",
        "route_config": {
            "name": "smimesh_health",
            "virtual_hosts": [{"name": "health", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [{"name": names.ROUTER_FILTER, "typed_config": {"@type": ROUTER_TYPE}}],
    }
    address = {"socket_address": {"address": "0.0.0.0", "port_value": layout.health_port}}
    return {
        "name": "smimesh_health",
        "address": address,
        "filter_chains": [{"filters": [{"name": names.HCM_FILTER, "typed_config": manager}]}],
    }
