"""UDP service ports: caller-side access control decides which sidecars get a UDP upstream listener.

Generator tests over a small YAML world (the way a user writes it): `metrics` serves two UDP ports,
a UDPRoute lets `app` send to 9000 only, `other` is named nowhere. Each sidecar's listeners must say
exactly what `evaluate_access` (and so `smimesh explain`) says; Envoy `--mode validate` accepts them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from smimesh.local.binaries import find_envoy
from smimesh.mesh import build_model, proxy_view
from smimesh.mesh.access import evaluate_access
from smimesh.mesh.impact import affected_nodes
from smimesh.mesh.instances import counter, instances_from_workloads
from smimesh.mesh.model import MeshModel, Protocol, ServiceKey
from smimesh.mesh.modes import DEFAULT_MODES
from smimesh.resources import load_text
from smimesh.resources.workload import Workload
from smimesh.testing.access_world import target, workload  # the access tests' YAML builders
from smimesh.testing.golden import Golden, as_data
from smimesh.xds import generate, type_urls
from smimesh.xds.security import secure_view
from smimesh.xds.udp import UDP_PROXY_FILTER

METRICS = ServiceKey("shop", "metrics")
UDP_PORTS = (9000, 9001)

SERVER = """
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: metrics, namespace: shop, labels: {app: metrics}}
spec:
  serviceAccount: metrics
  command: [python3, app.py]
  ports: [{name: udp-a, containerPort: 9000}, {name: udp-b, containerPort: 9001}]
---
apiVersion: v1
kind: Service
metadata: {name: metrics, namespace: shop}
spec:
  selector: {app: metrics}
  ports:
  - {name: a, port: 9000, targetPort: udp-a, protocol: UDP}
  - {name: udp-b, port: 9001, targetPort: udp-b}
"""
ROUTE = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: UDPRoute
metadata: {name: port-a, namespace: shop}
spec: {matches: {ports: [9000]}}
"""
ALLOW_APP = target("app-to-metrics", "metrics", ["app"], "[{kind: UDPRoute, name: port-a}]")


def udp_world(*extra: str, permissive: bool = False) -> MeshModel:
    text = "\n---\n".join(d.strip("\n") for d in (SERVER, workload("app"), workload("other"), *extra))
    result = load_text(text)
    assert not [d for d in result.diagnostics if d.is_error], [d.format() for d in result.diagnostics]
    workloads = sorted((o.resource for o in result.objects if isinstance(o.resource, Workload)), key=str)
    layout = [
        (
            w.metadata.namespace,
            w.metadata.name,
            w.spec.service_account,
            w.metadata.labels,
            1,
            [(p.name or str(p.container_port), p.container_port) for p in w.spec.ports],
        )
        for w in workloads
    ]
    udp_services = [("shop", "metrics", port) for port in UDP_PORTS]
    instances = instances_from_workloads(layout, counter(31000), udp_services)
    return build_model(result.snapshot(), instances, permissive=permissive)


def udp_listeners(resources: dict[str, list[Any]]) -> dict[str, Any]:
    return {x.name: x for x in resources[type_urls.LISTENER] if x.HasField("udp_listener_config")}


def upstream_ports(model: MeshModel, node: str) -> set[int]:
    return {u.port for u in proxy_view(model, node).udp_upstreams}


def test_only_the_allowed_port_gets_a_listener_in_the_allowed_callers_sidecar() -> None:
    model = udp_world(ROUTE, ALLOW_APP)
    assert upstream_ports(model, "app-0.shop") == {9000}
    assert upstream_ports(model, "other-0.shop") == set()
    assert set(udp_listeners(generate(proxy_view(model, "app-0.shop")))) == {"outbound_udp|shop|metrics|9000"}


def test_no_traffic_target_means_no_udp_upstream_and_open_mode_means_all() -> None:
    assert upstream_ports(udp_world(ROUTE), "app-0.shop") == set()
    assert upstream_ports(udp_world(ROUTE, permissive=True), "other-0.shop") == set(UDP_PORTS)


@pytest.mark.parametrize("node", ["app-0.shop", "other-0.shop"])
@pytest.mark.parametrize("permissive", [False, True])
def test_listeners_agree_with_evaluate_access(node: str, permissive: bool) -> None:
    """What `explain` answers (evaluate_access) is exactly which UDP listeners the sidecar has."""
    model = udp_world(ROUTE, ALLOW_APP, permissive=permissive)
    source = model.instances[node].identity
    allowed = {p for p in UDP_PORTS if evaluate_access(model, source, METRICS, p).allowed}
    assert upstream_ports(model, node) == allowed


def test_upstream_forwards_to_the_destination_sidecars_inbound_udp_port() -> None:
    model = udp_world(ROUTE, ALLOW_APP)
    resources = generate(proxy_view(model, "app-0.shop"))
    listener = udp_listeners(resources)["outbound_udp|shop|metrics|9000"]
    assert listener.listener_filters[0].name == UDP_PROXY_FILTER
    cluster = next(c for c in resources[type_urls.CLUSTER] if c.name == "outbound_udp|shop|metrics|9000")
    address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    (expected,) = model.service(METRICS).port(9000).addresses  # type: ignore[union-attr]
    assert (address.address, address.port_value) == expected


def test_destination_inbound_udp_ports_are_udp_listeners_to_the_app() -> None:
    model = udp_world(ROUTE, ALLOW_APP)
    view = proxy_view(model, "metrics-0.shop")
    assert {s.protocol for s in view.inbound} == {Protocol.UDP}
    listeners = udp_listeners(generate(view))
    assert set(listeners) == {"inbound|udp-a", "inbound|udp-b"}


def test_secured_config_keeps_caller_side_enforcement_and_plain_udp_inbound() -> None:
    """The secured view starts from an every-service-visible copy; UDP must still follow the policies."""
    model = udp_world(ROUTE, ALLOW_APP)
    caller = generate(secure_view(model, "app-0.shop", DEFAULT_MODES, _none))
    assert set(udp_listeners(caller)) == {"outbound_udp|shop|metrics|9000"}
    other = generate(secure_view(model, "other-0.shop", DEFAULT_MODES, _none))
    assert udp_listeners(other) == {}
    server = generate(secure_view(model, "metrics-0.shop", DEFAULT_MODES, _none))
    inbound = udp_listeners(server)
    assert set(inbound) == {"inbound|udp-a", "inbound|udp-b"}
    assert all(not x.filter_chains for x in inbound.values())  # no TLS chain wrapped around UDP


def test_a_udproute_port_change_reaches_the_callers_view_through_the_impact_index() -> None:
    """Who may reach whom is unchanged (same TrafficTarget), only the UDPRoute's ports move."""
    old = udp_world(ROUTE, ALLOW_APP)
    new = udp_world(ROUTE.replace("ports: [9000]", "ports: [9001]"), ALLOW_APP)
    assert upstream_ports(old, "app-0.shop") == {9000} and upstream_ports(new, "app-0.shop") == {9001}
    affected = affected_nodes(old, new)
    assert affected is None or "app-0.shop" in affected
    assert affected is not None and "other-0.shop" not in affected  # named by no policy: unchanged


def _none(_: object) -> None:
    return None


@pytest.mark.parametrize("node", ["app-0.shop", "metrics-0.shop"])
def test_golden(golden: Golden, node: str) -> None:
    golden.check(f"udp_ports/{node}", as_data(generate(proxy_view(udp_world(ROUTE, ALLOW_APP), node))))


def _data(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(MessageToDict(message, preserving_proto_field_name=True)))
    return data


def _udp_bootstrap(model: MeshModel) -> dict[str, Any]:
    """Every UDP listener of every sidecar, with the clusters they name (local ones made unique per node)."""
    listeners, clusters = [], {}
    for node in sorted(model.instances):
        resources = generate(proxy_view(model, node))
        found = [_data(x) for x in udp_listeners(resources).values()]
        wanted = [
            _data(c)
            for c in resources[type_urls.CLUSTER]
            if c.name.startswith(("outbound_udp|", "local_app|"))
        ]
        found, wanted = json.loads(json.dumps([found, wanted]).replace("local_app|", f"{node}/local_app|"))
        for listener in found:
            listener["name"] = f"{node}/{listener['name']}"
        listeners += found
        clusters.update({c["name"]: c for c in wanted})
    admin = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}}
    return {"admin": admin, "static_resources": {"listeners": listeners, "clusters": list(clusters.values())}}


@pytest.mark.envoy
def test_envoy_accepts_the_udp_config(tmp_path: Path) -> None:
    config = _udp_bootstrap(udp_world(ROUTE, ALLOW_APP))
    assert len(config["static_resources"]["listeners"]) == 3  # app's upstream + metrics' two inbound ports
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    command = [str(find_envoy()), "--mode", "validate", "-c", str(path), "-l", "warning"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
