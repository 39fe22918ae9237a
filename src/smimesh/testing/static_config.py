"""Generated sidecar configs inlined into one static Envoy bootstrap, for `envoy --mode validate`.

Every sidecar's listeners, routes, clusters, endpoints and secrets go into one config: RDS becomes an
inline route_config, EDS clusters become STATIC with their load assignment, SDS references are
looked up in `static_resources.secrets`; names that are per sidecar (listeners, `local_app|` clusters,
the sidecar's own certificate `identity:self`) are prefixed by the sidecar so they stay unique.
`static_bootstrap({label: {node: resources}})`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from smimesh.xds import type_urls

Config = Mapping[str, Sequence[Message]]
_PER_SIDECAR = ('"local_app|', '"identity:self"')


def _data(message: Any) -> dict[str, Any]:
    return dict(json.loads(json.dumps(MessageToDict(message, preserving_proto_field_name=True))))


def _without_sds_source(data: Any) -> Any:
    """SDS references resolved statically (no `sds_config`: the secret is in static_resources)."""
    if isinstance(data, list):
        return [_without_sds_source(item) for item in data]
    if not isinstance(data, dict):
        return data
    return {k: _without_sds_source(v) for k, v in data.items() if k != "sds_config"}


def _inline_listener(data: dict[str, Any], routes: dict[str, Any], prefix: str) -> dict[str, Any]:
    for chain in data.get("filter_chains", []):
        for config in (f["typed_config"] for f in chain["filters"]):
            if "rds" in config:
                config["route_config"] = routes[config.pop("rds")["route_config_name"]]
    data["name"] = f"{prefix}/{data['name']}"
    return data


def _static_cluster(data: dict[str, Any], assignments: dict[str, Any]) -> dict[str, Any]:
    if data.get("type") == "EDS":
        data.pop("eds_cluster_config")
        data["type"] = "STATIC"
        data["load_assignment"] = assignments[data["name"]]
    return data


def _per_sidecar(data: Any, node: str) -> Any:
    text = json.dumps(data)
    for name in _PER_SIDECAR:
        text = text.replace(name, f'"{node}/{name[1:]}')
    return json.loads(text)


def _sidecar(label: str, node: str, config: Config) -> dict[str, list[dict[str, Any]]]:
    """One sidecar's listeners, clusters and secrets, inlined and with per-sidecar names made unique."""
    data = {t: [_without_sds_source(_data(m)) for m in config.get(t, ())] for t in config}
    routes = {r["name"]: r for r in data.get(type_urls.ROUTE, [])}
    assignments = {a["cluster_name"]: a for a in data.get(type_urls.ENDPOINT, [])}
    return {
        "listeners": [_inline_listener(x, routes, f"{label}/{node}") for x in data[type_urls.LISTENER]],
        "clusters": [_static_cluster(c, assignments) for c in data[type_urls.CLUSTER]],
        "secrets": data.get(type_urls.SECRET, []),
    }


def static_bootstrap(worlds: Mapping[str, Mapping[str, Config]]) -> dict[str, Any]:
    """One static bootstrap holding every sidecar of every world (`{label: {node: resources}}`)."""
    listeners: list[dict[str, Any]] = []
    clusters: dict[str, dict[str, Any]] = {}
    secrets: dict[str, dict[str, Any]] = {}
    for label, configs in worlds.items():
        for node, config in sorted(configs.items()):
            part = _per_sidecar(_sidecar(label, node, config), node)
            listeners += part["listeners"]
            for cluster in part["clusters"]:
                clusters.setdefault(cluster["name"], cluster)
            for secret in part["secrets"]:
                secrets.setdefault(secret["name"], secret)
    admin = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    resources = {
        "listeners": listeners,
        "clusters": list(clusters.values()),
        "secrets": list(secrets.values()),
    }
    return {"admin": admin, "static_resources": resources}
