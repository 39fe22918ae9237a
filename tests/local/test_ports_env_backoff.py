"""Ports never collide and stay with an instance; the contract environment; backoff in virtual time."""

from __future__ import annotations

import socket
from pathlib import Path

from smimesh.local.backoff import Backoff
from smimesh.local.env import (
    command_line,
    expand,
    tcp_upstream_key,
    tcp_upstream_variable,
    workload_environment,
)
from smimesh.local.plan import InstanceSpec, PortSpec, WorkloadSpec, desired_instances
from smimesh.local.ports import PortAllocator


def make_workload(replicas: int = 3, **overrides: object) -> WorkloadSpec:
    values: dict[str, object] = dict(
        namespace="bookstore",
        name="bookstore-v1",
        service_account="bookstore",
        replicas=replicas,
        command=("python3", "app.py"),
        cwd=Path("/tmp"),
        env=(("GREETING", "hi"), ("HOST", "0.0.0.0")),
        labels=(("app", "bookstore"),),
        ports=(PortSpec("http", 8080), PortSpec("metrics", 9090)),
    )
    values.update(overrides)
    return WorkloadSpec(**values)  # type: ignore[arg-type]


def test_ports_of_many_instances_are_distinct_and_bindable() -> None:
    allocator = PortAllocator()
    instances = desired_instances([make_workload(replicas=20)])
    every = [
        p
        for key, spec in instances.items()
        for p in allocator.for_instance(key, spec.port_names, ["db.data:5432"]).all_ports()
    ]
    assert len(every) == 20 * 7
    assert len(set(every)) == len(every)
    for port in every[:10]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # still free: nothing holds it open


def test_instance_keeps_its_ports_and_gets_new_ones_for_new_names() -> None:
    allocator = PortAllocator()
    first = allocator.for_instance("a-0.ns", ["http"])
    again = allocator.for_instance("a-0.ns", ["http", "grpc"])
    assert again.app["http"] == first.app["http"] and again.admin == first.admin
    assert again.app["grpc"] not in first.all_ports()
    allocator.forget("a-0.ns")
    assert not set(again.all_ports()) & allocator._held


def test_instance_names_and_node_ids() -> None:
    instances = desired_instances([make_workload(replicas=2)])
    assert sorted(instances) == ["bookstore-v1-0.bookstore", "bookstore-v1-1.bookstore"]
    assert instances["bookstore-v1-1.bookstore"].name == "bookstore-v1-1"


def test_contract_environment_wins_over_spec_env_and_spec_env_over_inherited() -> None:
    instance = InstanceSpec(make_workload(), 1)
    ports = PortAllocator().for_instance(
        instance.node_id, instance.port_names, [tcp_upstream_key("db", "data", 5432)]
    )
    inherited = {"PATH": "/usr/bin", "GREETING": "old", "HTTPS_PROXY": "http://corp:3128", "http_proxy": "x"}
    env = workload_environment(instance, ports, inherited)
    assert env["HOST"] == "127.0.0.1"
    assert env["PORT"] == str(ports.app["http"]) == env["PORT_HTTP"]
    assert env["PORT_METRICS"] == str(ports.app["metrics"])
    assert env["HTTP_PROXY"] == env["http_proxy"] == f"http://127.0.0.1:{ports.outbound_http}"
    assert env["GREETING"] == "hi"
    # the inherited corporate proxy is gone: HTTPS leaves through the sidecar too (CONNECT)
    assert env["HTTPS_PROXY"] == env["https_proxy"] == env["HTTP_PROXY"]
    assert env["WORKLOAD_NAME"] == "bookstore-v1" and env["POD_NAME"] == "bookstore-v1-1"
    assert env["POD_NAMESPACE"] == "bookstore" and env["SERVICE_ACCOUNT"] == "bookstore"
    assert env["SMIMESH_TCP_DB_DATA_5432"] == f"127.0.0.1:{ports.tcp_upstreams['db.data:5432']}"
    assert env["PATH"].endswith("/usr/bin") and env["PATH"] != "/usr/bin"


def test_tcp_upstream_variable_names() -> None:
    assert tcp_upstream_variable(tcp_upstream_key("my-db", "prod-1", 6379)) == "SMIMESH_TCP_MY_DB_PROD_1_6379"


def test_backoff_doubles_up_to_the_cap_in_virtual_time() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, healthy_after_s=10.0)
    now, delays = 0.0, []
    for _ in range(6):
        started = now
        now += 0.1  # crashes right away
        delay = backoff.next_delay(started, now)
        delays.append(delay)
        now += delay
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_backoff_is_forgiven_after_a_healthy_run() -> None:
    backoff = Backoff(initial_s=0.5, max_s=10.0, healthy_after_s=10.0)
    for _ in range(4):
        backoff.next_delay(0.0, 0.1)
    assert backoff.next_delay(100.0, 111.0) == 0.5
    assert backoff.next_delay(111.5, 111.6) == 1.0


def test_command_and_args_expand_kubernetes_style_references_from_the_environment() -> None:
    workload = make_workload(
        command=("python3", "app.py", "--greeting=$(GREETING)"),
        args=("--listen", "$(HOST):$(PORT)", "--literal=$$(PORT)", "$(UNKNOWN)", "cost $5", "$(PORT"),
    )
    instance = InstanceSpec(workload, 0)
    ports = PortAllocator().for_instance(instance.node_id, instance.port_names)
    env = workload_environment(instance, ports, {"PATH": "/bin"})
    assert command_line(instance, env) == [
        "python3",
        "app.py",
        "--greeting=hi",
        "--listen",
        f"127.0.0.1:{ports.app['http']}",
        "--literal=$(PORT)",
        "$(UNKNOWN)",
        "cost $5",
        "$(PORT",
    ]
    assert expand("$$$(GREETING) $$ a$", {"GREETING": "hi"}) == "$hi $ a$"
