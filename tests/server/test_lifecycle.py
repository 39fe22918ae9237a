"""Server lifetime and the authorize seam: streams end cleanly, no task outlives the server."""

from __future__ import annotations

import grpc

from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.hooks import Metadata, Push, ServerHooks, StreamInfo
from smimesh.server.sync import SyncState
from smimesh.testing.ads_client import AdsClient
from smimesh.testing.server_harness import Running
from smimesh.testing.server_world import world
from smimesh.xds import type_urls as T
from smimesh.xds.snapshot import Snapshot


class OnlyNs(ServerHooks):
    def authorize(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        return node_id.endswith(".ns")


async def test_stop_with_open_streams_leaves_no_tasks(no_leaked_tasks: None) -> None:
    cache, sync = SnapshotCache(), SyncState()
    server = XdsServer(cache, sync)
    await server.start()
    cache.set_snapshot("a.ns", Snapshot.build(world(1, 2)))
    clients = [
        await AdsClient("a.ns", address=server.address, mode=mode).connect() for mode in ("sotw", "delta")
    ]
    for client in clients:
        await client.subscribe(T.CLUSTER)
        await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    await server.stop()
    for client in clients:
        await client.wait_for(lambda c: c.closed_with is not None)
        await client.close()
    assert sync.status("a.ns") == "DISCONNECTED"
    assert cache.watcher_count() == 0


async def test_authorize_hook_refuses_a_node(no_leaked_tasks: None) -> None:
    server = XdsServer(SnapshotCache(), SyncState(), hooks=[OnlyNs()])
    await server.start()
    try:
        denied = await AdsClient("intruder", address=server.address).connect()
        await denied.subscribe(T.CLUSTER)
        await denied.wait_for(lambda c: c.closed_with is not None)
        assert denied.closed_with == grpc.StatusCode.PERMISSION_DENIED
        await denied.close()
    finally:
        await server.stop()


async def test_first_request_without_node_is_refused(running: Running) -> None:
    client = AdsClient("", address=running.server.address)
    await client.connect()
    running.clients.append(client)
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.closed_with is not None)
    assert client.closed_with == grpc.StatusCode.INVALID_ARGUMENT


async def test_metrics_render_prometheus_text(running: Running) -> None:
    running.cache.set_snapshot("a.ns", Snapshot.build(world(1, 2), changed_at=1.0))
    client = await running.client("a.ns")
    await client.subscribe(T.CLUSTER)
    await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    await client.wait_for(lambda c: running.sync.get("a.ns").convergence_s is not None)
    text, content_type = running.metrics.render()
    assert content_type.startswith("text/plain")
    assert b'smimesh_xds_pushes_total{type="CDS"} 1.0' in text
    assert b"smimesh_xds_connected_proxies 1.0" in text
    assert b"smimesh_xds_convergence_seconds_count 1.0" in text


async def test_removed_nodes_leave_the_sync_state_in_either_order(running: Running) -> None:
    for node in ("first.ns", "second.ns"):
        running.cache.set_snapshot(node, Snapshot.build(world(1, 2)))
    first, second = await running.client("first.ns"), await running.client("second.ns")
    for client in (first, second):
        await client.subscribe(T.CLUSTER)
        await client.wait_for(lambda c: c.state(T.CLUSTER).acks == 1)
    await first.close()  # disconnected, then its instance removed
    await second.wait_for(lambda c: running.sync.status("first.ns") == "DISCONNECTED")
    running.cache.clear("first.ns")
    assert running.sync.get("first.ns") is None
    running.cache.clear("second.ns")  # instance removed while connected, then the sidecar goes away
    assert running.sync.status("second.ns") == "SYNCED"
    await second.close()
    await second.wait_for(lambda c: running.sync.get("second.ns") is None)
    assert running.sync.rows() == []


class PushLog(ServerHooks):
    def __init__(self) -> None:
        self.types: list[str] = []

    def on_response(self, stream: StreamInfo, push: Push) -> None:
        self.types.append(T.short_name(push.type_url))


async def test_a_change_of_every_type_is_pushed_make_before_break(no_leaked_tasks: None) -> None:
    log, cache, sync = PushLog(), SnapshotCache(), SyncState()
    server = XdsServer(cache, sync, hooks=[log])
    await server.start()
    client = AdsClient("a.ns", address=server.address, follow=True)
    try:
        cache.set_snapshot("a.ns", Snapshot.build(world(1, 2)))
        await client.connect()
        await client.subscribe(T.LISTENER)
        await client.subscribe(T.CLUSTER)
        await client.wait_for(lambda c: all(c.state(t).acks == 1 for t in (T.CLUSTER, T.ENDPOINT, T.ROUTE)))
        await client.wait_for(lambda c: sync.status("a.ns") == "SYNCED")  # nothing in flight any more
        log.types.clear()
        changed = world(3, 4, tag="v2")
        changed[T.CLUSTER][0].connect_timeout.seconds = 2
        cache.set_snapshot("a.ns", Snapshot.build(changed))
        await client.wait_for(lambda c: len(log.types) == 4)
        assert log.types == ["CDS", "EDS", "LDS", "RDS"]
    finally:
        await client.close()
        await server.stop()
