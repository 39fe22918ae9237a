"""From loaded manifests to desired instances, TCP upstreams and mesh instances (pure, no processes)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from smimesh.demo import manifests
from smimesh.diagnostics import has_errors
from smimesh.local.env import tcp_upstream_key
from smimesh.local.instances import desired_from_snapshot, mesh_instance, tcp_upstream_keys
from smimesh.local.ports import PortAllocator
from smimesh.mesh import build_model
from smimesh.resources import InputSnapshot, load_paths


def load(directory: Path) -> InputSnapshot:
    result = load_paths([directory])
    assert not has_errors(result.diagnostics), [d.format() for d in result.diagnostics]
    return InputSnapshot.from_objects(result.objects)


def test_the_demo_loads_without_errors_and_asks_for_five_instances() -> None:
    snapshot = load(manifests())
    desired = desired_from_snapshot(snapshot, Path("/unused"))
    assert sorted(desired) == [
        "bookstore-v1-0.bookstore",
        "bookstore-v2-0.bookstore",
        "buyer-0.bookstore",
        "thief-0.bookstore",
        "warehouse-0.bookstore",
    ]
    buyer = desired["buyer-0.bookstore"].workload
    assert buyer.cwd == manifests().resolve()  # the manifest's directory
    assert buyer.command[:2] == ("python3", "apps/shopper.py")
    assert tcp_upstream_keys(snapshot) == []


def test_working_dir_tcp_ports_and_the_mesh_sees_the_real_ports(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "db.yaml").write_text(
        textwrap.dedent("""
        apiVersion: smimesh.io/v1alpha1
        kind: Workload
        metadata: {name: db, namespace: data, labels: {app: db}}
        spec:
          serviceAccount: db
          replicas: 2
          command: [./run-db]
          workingDir: ../bin
          ports: [{name: tcp-db, containerPort: 5432}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: db, namespace: data}
        spec:
          selector: {app: db}
          ports: [{name: tcp-db, port: 5432, targetPort: tcp-db}]
    """)
    )
    snapshot = load(tmp_path)
    desired = desired_from_snapshot(snapshot, tmp_path)
    assert desired["db-1.data"].workload.cwd == (tmp_path / "bin").resolve()
    keys = tcp_upstream_keys(snapshot)
    assert keys == [tcp_upstream_key("db", "data", 5432)]

    allocator = PortAllocator()
    instances = [
        mesh_instance(spec, allocator.for_instance(key, spec.port_names, keys), keys)
        for key, spec in desired.items()
    ]
    model = build_model(snapshot, instances)
    db = next(s for s in model.services.values() if s.key.name == "db")
    sidecar_ports = sorted(i.inbound[0].sidecar_port for i in instances)
    assert sorted(e.port for e in db.ports[0].endpoints) == sidecar_ports
    assert (
        instances[0].tcp_upstreams[0].local_port
        == allocator.for_instance("db-0.data", ["tcp-db"], keys).tcp_upstreams[keys[0]]
    )
