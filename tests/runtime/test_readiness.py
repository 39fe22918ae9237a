"""Readiness: an instance is ready only once every sidecar whose config sends to it has ACKed that config.

Real snapshots (an EDS assignment naming the instance's inbound address), the real sync state fed
as the xDS server feeds it, and instances whose process states are set directly (the processes
themselves are the e2e tests' business: tests/e2e/test_up_ready.py).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from smimesh.local.plan import InstanceSpec, PortSpec, WorkloadSpec
from smimesh.local.ports import InstancePorts
from smimesh.local.supervised import ProcessState
from smimesh.local.supervisor import RunningInstance
from smimesh.runtime.readiness import Readiness
from smimesh.server.cache import SnapshotCache
from smimesh.server.hooks import Push, StreamInfo
from smimesh.server.sync import SyncState
from smimesh.xds import type_urls
from smimesh.xds.snapshot import Snapshot

WEB_INBOUND = 41000


def running(name: str, inbound: int, state: str = "running", **app: Any) -> RunningInstance:
    workload = WorkloadSpec(
        "shop", name, name, 1, ("app",), Path("/"), labels=(("app", name),), ports=(PortSpec("http", 8080),)
    )
    ports = InstancePorts(
        app={"http": inbound - 1}, inbound={"http": inbound}, outbound_http=inbound + 1, admin=inbound + 2
    )
    process = SimpleNamespace(status=ProcessState(name, state=state, **app))
    sidecar = SimpleNamespace(status=ProcessState(f"{name} sidecar", state="running"))
    return RunningInstance(InstanceSpec(workload, 0), ports, app=process, sidecar=sidecar)  # type: ignore[arg-type]


def assignment(*ports: int) -> endpoint_pb2.ClusterLoadAssignment:
    endpoints = [
        endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(
                address=address_pb2.Address(
                    socket_address=address_pb2.SocketAddress(address="127.0.0.1", port_value=port)
                )
            )
        )
        for port in ports
    ]
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name="outbound|shop|web|80",
        endpoints=[endpoint_components_pb2.LocalityLbEndpoints(lb_endpoints=endpoints)],
    )


class World:
    def __init__(self) -> None:
        self.web, self.client = running("web", WEB_INBOUND), running("client", 42000)
        self.cache, self.sync = SnapshotCache(), SyncState()
        self.pipeline = SimpleNamespace(published_instances=())
        supervisor = SimpleNamespace(running=[self.client, self.web])
        self.readiness = Readiness(supervisor, self.pipeline, self.cache, self.sync)  # type: ignore[arg-type]
        for node in ("client-0.shop", "web-0.shop"):
            self.sync.on_stream_open(StreamInfo(1, node, "sotw"))

    def publish(self, node: str, *ports: int, ack: bool = True, nack: bool = False) -> None:
        snapshot = Snapshot.build({type_urls.ENDPOINT: [assignment(*ports)]})
        self.cache.set_snapshot(node, snapshot)
        stream, version = StreamInfo(1, node, "sotw"), snapshot.version(type_urls.ENDPOINT)
        self.sync.on_response(stream, Push(type_urls.ENDPOINT, version, "n", 1))
        if nack:
            self.sync.on_nack(stream, type_urls.ENDPOINT, version, "bad weights")
        elif ack:
            self.sync.on_ack(stream, type_urls.ENDPOINT, version)

    def published(self, *instances: RunningInstance) -> None:
        self.pipeline.published_instances = tuple(  # type: ignore[assignment]
            SimpleNamespace(node_id=i.spec.node_id, labels=i.spec.workload.labels) for i in instances
        )


def test_ready_only_once_the_callers_sidecars_have_acked_the_endpoint() -> None:
    world = World()
    world.publish("client-0.shop")
    world.publish("web-0.shop")
    reasons = world.readiness.reasons()
    assert reasons["web-0.shop"] == "its endpoint is not in the published config yet"  # the gate's window

    world.published(world.client, world.web)
    world.publish("web-0.shop", WEB_INBOUND)
    world.publish("client-0.shop", WEB_INBOUND, ack=False)  # sent, not yet ACKed: requests would 503
    reasons = world.readiness.reasons()
    assert reasons["web-0.shop"] == "its endpoint has not reached the sidecars of client-0.shop yet"
    assert reasons["client-0.shop"] == "sidecar has not accepted its latest config yet"

    world.publish("client-0.shop", WEB_INBOUND)
    assert world.readiness.reasons() == {"client-0.shop": "", "web-0.shop": ""}


def test_the_reason_names_the_app_or_the_sidecars_whichever_it_is() -> None:
    world = World()
    world.published(world.client, world.web)
    world.publish("web-0.shop", WEB_INBOUND)
    world.publish("client-0.shop", WEB_INBOUND, nack=True)
    assert world.readiness.reasons()["web-0.shop"].startswith(
        "the sidecars of client-0.shop refused their config"
    )

    world.web.app.status.state, world.web.app.status.last_exit = "backoff", "exited (exit code 2)"
    world.web.app.status.restarts = 3
    assert world.readiness.reasons()["web-0.shop"] == (
        "app exited (exit code 2); restarting (restart 3; `smimesh logs web-0`)"
    )
    world.web.app.status.state, world.web.app.status.note = "starting", "is not listening on 127.0.0.1:1"
    assert world.readiness.reasons()["web-0.shop"] == "app is not listening on 127.0.0.1:1"
    world.sync.on_stream_close(StreamInfo(1, "client-0.shop", "sotw"))
    assert world.readiness.reasons()["client-0.shop"] == "sidecar not connected to the control plane"


def test_a_caller_whose_sidecar_process_is_down_does_not_hold_anyone_back() -> None:
    world = World()
    world.published(world.client, world.web)
    world.publish("web-0.shop", WEB_INBOUND)
    world.publish("client-0.shop", WEB_INBOUND, ack=False)
    sidecar = world.client.sidecar.status  # type: ignore[union-attr]
    sidecar.state, sidecar.last_exit = "backoff", "exited (killed by SIGKILL)"
    reasons = world.readiness.reasons()
    assert reasons["web-0.shop"] == ""
    assert reasons["client-0.shop"] == (
        "sidecar exited (killed by SIGKILL); restarting (`smimesh logs client-0 --sidecar`)"
    )


def test_a_sidecar_whose_config_could_not_be_generated_says_so() -> None:
    world = World()
    world.published(world.client, world.web)
    world.publish("client-0.shop", WEB_INBOUND)
    world.sync.set_generation_problems({"client-0.shop": "ValueError: out of range"})
    reason = world.readiness.reasons()["client-0.shop"]
    assert reason == "its config could not be generated: ValueError: out of range"
