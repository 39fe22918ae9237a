"""Envoy-style validation: the real Envoy binary in `--mode validate` accepts what we generate.

Every sidecar's listeners, routes, clusters and endpoints, for the bookstore world and every edge
case, are inlined into one static bootstrap (RDS → inline route_config, EDS → STATIC clusters with
their load assignment; listener names prefixed by node so they stay unique) and handed to Envoy.
The generated ADS bootstrap is validated the same way (SotW and delta).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from smimesh.local.binaries import find_envoy
from smimesh.mesh import MeshModel, proxy_view
from smimesh.testing.bookstore import bookstore_model
from smimesh.testing.bookstore_edges import EDGE_CASES, edge_model
from smimesh.testing.net import free_port
from smimesh.xds import build_bootstrap, generate, type_urls

pytestmark = pytest.mark.envoy


def _data(message: Any) -> dict[str, Any]:
    return json.loads(json.dumps(MessageToDict(message, preserving_proto_field_name=True)))


def _inline_listener(listener: Any, routes: dict[str, Any], prefix: str) -> dict[str, Any]:
    data = _data(listener)
    for chain in data["filter_chains"]:
        for config in (f["typed_config"] for f in chain["filters"]):
            if "rds" in config:
                config["route_config"] = routes[config.pop("rds")["route_config_name"]]
    data["name"] = f"{prefix}/{data['name']}"
    return data


def _static_cluster(cluster: Any, assignments: dict[str, Any]) -> dict[str, Any]:
    data = _data(cluster)
    if data.get("type") == "EDS":
        data.pop("eds_cluster_config")
        data["type"] = "STATIC"
        data["load_assignment"] = assignments[data["name"]]
    return data


def static_bootstrap(models: dict[str, MeshModel]) -> dict[str, Any]:
    listeners, clusters = [], {}
    for label, model in models.items():
        for node in sorted(model.instances):
            generated = generate(proxy_view(model, node))
            routes = {r.name: _data(r) for r in generated[type_urls.ROUTE]}
            assignments = {a.cluster_name: _data(a) for a in generated[type_urls.ENDPOINT]}
            node_listeners = [
                _inline_listener(x, routes, f"{label}/{node}") for x in generated[type_urls.LISTENER]
            ]
            local = [_data(c) for c in generated[type_urls.CLUSTER] if not c.name.startswith("outbound|")]
            # Every sidecar has its own `local_app|<port>` clusters: make the names unique in one config.
            node_listeners, local = json.loads(
                json.dumps([node_listeners, local]).replace('"local_app|', f'"{node}/local_app|')
            )
            listeners += node_listeners
            clusters.update({c["name"]: c for c in local})
            for cluster in (c for c in generated[type_urls.CLUSTER] if c.name.startswith("outbound|")):
                data = _static_cluster(cluster, assignments)
                clusters.setdefault(data["name"], data)
    admin = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    return {"admin": admin, "static_resources": {"listeners": listeners, "clusters": list(clusters.values())}}


def _validate(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    command = [str(find_envoy()), "--mode", "validate", "-c", str(path), "-l", "warning"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("world", ["bookstore", *EDGE_CASES])
def test_envoy_accepts_every_sidecar_config(tmp_path: Path, world: str) -> None:
    """One Envoy run per world (worlds reuse ports), holding every sidecar of that world at once."""
    model = bookstore_model() if world == "bookstore" else edge_model(world)
    config = static_bootstrap({world: model})
    result = _validate(config, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert len(config["static_resources"]["listeners"]) >= len(model.instances)


@pytest.mark.parametrize("delta", [False, True])
def test_envoy_accepts_bootstrap(tmp_path: Path, delta: bool) -> None:
    config = build_bootstrap("buyer-0.bookstore", "buyer", "127.0.0.1", free_port(), free_port(), delta=delta)
    result = _validate(config, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


def test_envoy_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check can fail: a route to a cluster that does not exist is refused."""
    config = static_bootstrap({"bookstore": bookstore_model()})
    config["static_resources"]["clusters"] = [
        c for c in config["static_resources"]["clusters"] if c["name"] != "outbound|bookstore|bookstore-v1|80"
    ]
    assert _validate(config, tmp_path).returncode != 0
