"""Egress in a pod's config (transparent mode): the capture listener's chains, and Envoy accepts them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from tests.pods.egress_world import EGRESS_YAML, IDLE, WEB

from smimesh.mesh import MeshModel, build_model, proxy_view
from smimesh.testing import static_config
from smimesh.testing.bookstore import load_world
from smimesh.testing.envoy_validate import validate_config
from smimesh.xds import generate, type_urls


def _model(yaml: str = EGRESS_YAML, egress_open: bool = False) -> MeshModel:
    return build_model(load_world(yaml), [WEB, IDLE], egress_open=egress_open)


def _capture(model: MeshModel, node: str) -> dict[str, Any]:
    listener = next(
        m for m in generate(proxy_view(model, node))[type_urls.LISTENER] if m.name == "outbound_capture"
    )
    return MessageToDict(listener, preserving_proto_field_name=True)


def _chains(listener: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c["filter_chain_match"] for c in listener.get("filter_chains", [])}


def test_by_policy_the_capture_listener_allows_only_what_the_egress_names() -> None:
    capture = _capture(_model(), WEB.node_id)
    chains = _chains(capture)
    assert chains["egress|tls|8443"]["server_names"] == ["*.tls.example", "api.secure.example"]
    assert chains["egress|address|9000"]["prefix_ranges"] == [
        {"address_prefix": "198.18.0.3", "prefix_len": 32}
    ]
    assert chains["egress|http|8080"]["application_protocols"] == ["http/1.0", "http/1.1", "h2c"]
    assert "egress|http|other-ports" in chains
    assert capture["default_filter_chain"]["filters"][0]["typed_config"]["cluster"] == "blackhole"
    # the pod no Egress names is refused everything outside the mesh (the mesh holds Egresses)
    idle = _capture(_model(), IDLE.node_id)
    assert set(_chains(idle)) == {"egress|http|other-ports"}
    assert idle["default_filter_chain"]["filters"][0]["typed_config"]["cluster"] == "blackhole"


def test_open_egress_passes_everything_and_without_any_egress_nothing_changes() -> None:
    capture = _capture(_model(egress_open=True), IDLE.node_id)
    assert _chains(capture) == {}
    assert capture["default_filter_chain"]["filters"][0]["typed_config"]["cluster"] == "passthrough"
    plain = _capture(_model(yaml=""), WEB.node_id)  # no Egress at all: the listener of before
    assert [c["filters"][0]["typed_config"]["cluster"] for c in plain["filter_chains"]] == ["passthrough"]
    assert "default_filter_chain" not in plain
    assert [f["name"] for f in plain["listener_filters"]] == ["envoy.filters.listener.original_dst"]


@pytest.mark.envoy
@pytest.mark.parametrize("egress_open", [False, True])
@pytest.mark.parametrize("node", [WEB.node_id, IDLE.node_id])
def test_envoy_accepts_the_pods_egress_config(tmp_path: Path, egress_open: bool, node: str) -> None:
    """One sidecar per run: every pod's capture listener is on 0.0.0.0:15001."""
    config = {node: generate(proxy_view(_model(egress_open=egress_open), node))}
    result = validate_config(static_config.static_bootstrap({"pods": config}), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]


IPV6 = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: v6, namespace: shop}
spec:
  sources: [{kind: ServiceAccount, name: web, namespace: shop}]
  ipAddresses: ["2001:db8:e::/48", "::1/128", 198.18.0.3/32]
  ports: [{number: 9000, protocol: tcp}]
"""


def test_ipv6_ranges_are_address_ranges_in_pods() -> None:
    ranges = _chains(_capture(_model(IPV6), WEB.node_id))["egress|address|9000"]["prefix_ranges"]
    assert ranges == [
        {"address_prefix": "198.18.0.3", "prefix_len": 32},
        {"address_prefix": "2001:db8:e::", "prefix_len": 48},
        {"address_prefix": "::1", "prefix_len": 128},
    ]


def test_enforced_egress_refuses_pods_the_outside_even_with_no_egress() -> None:
    """`smimesh controller --egress policy`: no Egress in the mesh, and still only what one allows."""
    model = build_model(load_world(""), [WEB, IDLE], egress_enforced=True)
    for node in (WEB.node_id, IDLE.node_id):
        capture = _capture(model, node)
        assert set(_chains(capture)) == {"egress|http|other-ports"}
        assert capture["default_filter_chain"]["filters"][0]["typed_config"]["cluster"] == "blackhole"
