"""The local runtime's side of UDP services: upstream keys, `SMIMESH_UDP_*` variables, UDP readiness."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from pathlib import Path

from smimesh.diagnostics import has_errors
from smimesh.local.env import (
    parse_upstream_key,
    tcp_upstream_key,
    tcp_upstream_variable,
    udp_upstream_key,
    workload_environment,
)
from smimesh.local.instances import desired_from_snapshot, mesh_instance, tcp_upstream_keys
from smimesh.local.ports import PortAllocator
from smimesh.local.readiness import udp_bound_ports, wait_serving
from smimesh.mesh import build_model, proxy_view
from smimesh.resources import InputSnapshot, load_paths

MANIFEST = """
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: stats, namespace: data, labels: {app: stats}}
spec:
  serviceAccount: stats
  command: [./stats]
  ports: [{name: stats, containerPort: 8125, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: stats, namespace: data}
spec:
  selector: {app: stats}
  ports:
  - {name: statsd, port: 8125, targetPort: stats, protocol: UDP}
  - {name: udp-other, port: 8126, targetPort: stats}
  - {name: tcp-admin, port: 9000, targetPort: stats}
"""


def test_udp_keys_and_variables() -> None:
    key = udp_upstream_key("my-stats", "prod-1", 8125)
    assert key == "my-stats.prod-1:8125/udp"
    assert parse_upstream_key(key) == ("my-stats", "prod-1", 8125, True)
    assert parse_upstream_key(tcp_upstream_key("db", "data", 5432)) == ("db", "data", 5432, False)
    assert tcp_upstream_variable(key) == "SMIMESH_UDP_MY_STATS_PROD_1_8125"
    assert tcp_upstream_variable(tcp_upstream_key("db", "data", 5432)) == "SMIMESH_TCP_DB_DATA_5432"


def test_udp_service_ports_get_udp_keys_variables_and_reach_the_model(tmp_path: Path) -> None:
    (tmp_path / "stats.yaml").write_text(textwrap.dedent(MANIFEST))
    result = load_paths([str(tmp_path)])
    assert not has_errors(result.diagnostics), [d.format() for d in result.diagnostics]
    snapshot = InputSnapshot.from_objects(result.objects)
    keys = tcp_upstream_keys(snapshot)
    # `protocol: UDP` and a `udp-` name prefix both make a UDP port; `tcp-` stays TCP
    assert keys == ["stats.data:8125/udp", "stats.data:8126/udp", "stats.data:9000"]
    (spec,) = desired_from_snapshot(snapshot, tmp_path).values()
    ports = PortAllocator().for_instance(spec.node_id, spec.port_names, keys)
    env = workload_environment(spec, ports, {})
    assert env["SMIMESH_UDP_STATS_DATA_8125"] == f"127.0.0.1:{ports.tcp_upstreams[keys[0]]}"
    assert env["SMIMESH_TCP_STATS_DATA_9000"] == f"127.0.0.1:{ports.tcp_upstreams[keys[2]]}"
    assert not any(name.startswith("SMIMESH_TCP_STATS_DATA_812") for name in env)
    instance = mesh_instance(spec, ports, keys)
    model = build_model(snapshot, [instance], permissive=True)
    view = proxy_view(model, instance.node_id)
    assert {(u.port, u.local_port) for u in view.udp_upstreams} == {
        (8125, ports.tcp_upstreams[keys[0]]),
        (8126, ports.tcp_upstreams[keys[1]]),
    }


def test_a_bound_udp_socket_counts_as_serving_and_a_free_port_does_not() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert port in udp_bound_ports()
        assert asyncio.run(wait_serving("127.0.0.1", port, 1.0))
    assert port not in udp_bound_ports()
    assert not asyncio.run(wait_serving("127.0.0.1", port, 0.2))
