"""A real Envoy against the ADS server, in SotW and in delta mode: it ACKs every type (sync state and
Envoy's /config_dump agree), traffic through the listener reaches the backend, an update is seen
in traffic, and an invalid listener is NACKed with Envoy's text, not resent, while Envoy keeps
serving its last accepted config."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.sync import NACKED, SYNCED, SyncState
from smimesh.testing.net import free_port
from smimesh.testing.server_envoy import Envoy, backend, get, running_envoy
from smimesh.testing.server_harness import Running
from smimesh.testing.server_world import invalid_listener, world
from smimesh.xds import type_urls as T
from smimesh.xds.snapshot import Snapshot

pytestmark = pytest.mark.envoy
NODE = "envoy-under-test.ns"
DUMP_KEYS = {  # where /config_dump keeps each type's dynamic resources, and their version field
    T.LISTENER: ("ListenersConfigDump", "dynamic_listeners"),
    T.CLUSTER: ("ClustersConfigDump", "dynamic_active_clusters"),
    T.ROUTE: ("RoutesConfigDump", "dynamic_route_configs"),
    T.ENDPOINT: ("EndpointsConfigDump", "dynamic_endpoint_configs"),
}


async def until(condition: Any, within: float = 30.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def dumped_versions(dump: dict[str, Any], type_url: str) -> set[str]:
    kind, field = DUMP_KEYS[type_url]
    section = next(c for c in dump["configs"] if c["@type"].rsplit(".", 1)[-1] == kind)
    items = section.get(field, [])
    if type_url == T.LISTENER:  # a rejected update shows up beside the active state, as error_state
        items = [item["active_state"] for item in items if "active_state" in item]
    return {item.get("version_info", "") for item in items}


async def traffic(port: int) -> tuple[int, str]:
    try:
        status, headers, _ = await get(f"http://127.0.0.1:{port}/")
    except OSError:
        return 0, ""
    return status, {k.lower(): v for k, v in headers.items()}.get("x-world", "")


def expected_versions(snapshot: Snapshot, type_url: str, delta: bool) -> set[str]:
    # SotW: Envoy shows the type's version_info; delta: each resource's own version (its digest).
    if delta:
        return {entry.digest for entry in snapshot.entries(type_url).values()}
    return {snapshot.version(type_url)}


async def assert_config_dump_agrees(envoy: Envoy, snapshot: Snapshot, delta: bool) -> None:
    dump = await envoy.config_dump()
    for type_url in (T.LISTENER, T.CLUSTER, T.ROUTE):
        assert dumped_versions(dump, type_url) == expected_versions(snapshot, type_url, delta), type_url
    # Envoy leaves version_info empty for endpoints: compare what it holds instead.
    section = next(c for c in dump["configs"] if c["@type"].endswith(".EndpointsConfigDump"))
    held = {item["endpoint_config"]["cluster_name"] for item in section.get("dynamic_endpoint_configs", [])}
    assert held == set(snapshot.entries(T.ENDPOINT))


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_envoy_acks_serves_updates_and_survives_a_nack(running: Running, delta: bool) -> None:
    listen = free_port()
    with backend() as backend_port:
        first = Snapshot.build(
            world(listen, backend_port, tag="v1"), changed_at=asyncio.get_running_loop().time()
        )
        running.cache.set_snapshot(NODE, first)
        async with running_envoy(NODE, running.server.port, delta=delta) as envoy:
            sync = running.sync

            async def synced() -> bool:
                proxy = sync.get(NODE)
                return proxy is not None and proxy.status == SYNCED and len(proxy.types) == 4

            await until(synced, what="Envoy to ACK every type")
            await assert_config_dump_agrees(envoy, first, delta)
            await until(lambda: _is(traffic(listen), (200, "v1")), what="traffic through the listener")
            assert sync.get(NODE).convergence_s is not None

            second = Snapshot.build(world(listen, backend_port, tag="v2"))
            running.cache.set_snapshot(NODE, second)
            await until(lambda: _is(traffic(listen), (200, "v2")), what="the updated route in traffic")
            await until(synced, what="the update ACKed")

            broken = world(listen, backend_port, tag="v2")
            broken[T.LISTENER] = [invalid_listener(listen)]
            running.cache.set_snapshot(NODE, Snapshot.build(broken))

            async def nacked() -> bool:
                return sync.status(NODE) == NACKED

            await until(nacked, what="Envoy to NACK the invalid listener")
            message = sync.get(NODE).nack_message
            assert "Error adding/updating listener(s) ingress" in message and "route_specifier" in message
            pushes = _lds_pushes(running)
            await asyncio.sleep(2.0)  # a resend loop would show up as more LDS pushes by now
            assert _lds_pushes(running) == pushes
            assert await traffic(listen) == (200, "v2")  # the last accepted config still serves
            await assert_config_dump_agrees(envoy, second, delta)


async def _is(pending: Any, expected: tuple[int, str]) -> bool:
    return bool(await pending == expected)


def _lds_pushes(running: Running) -> float:
    value = running.metrics.registry.get_sample_value("smimesh_xds_pushes_total", {"type": "LDS"})
    return float(value or 0.0)


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_envoy_survives_a_control_plane_restart(running: Running, delta: bool) -> None:
    listen = free_port()
    with backend() as backend_port:
        running.cache.set_snapshot(NODE, Snapshot.build(world(listen, backend_port, tag="v1")))
        async with running_envoy(NODE, running.server.port, delta=delta):
            await until(lambda: _is(traffic(listen), (200, "v1")), what="traffic through the listener")
            answers: list[tuple[int, str]] = []
            keep_sending = asyncio.create_task(_send_until_cancelled(listen, answers))
            try:
                await running.server.stop()
                await asyncio.sleep(1.0)  # Envoy runs on its last config while the server is down
                cache, sync = SnapshotCache(), SyncState()
                cache.set_snapshot(NODE, Snapshot.build(world(listen, backend_port, tag="v2")))
                restarted = XdsServer(cache, sync, port=running.server.port)
                await restarted.start()
                try:
                    await until(
                        lambda: _is(traffic(listen), (200, "v2")), what="the restarted server's config"
                    )

                    async def synced() -> bool:
                        return sync.status(NODE) == SYNCED

                    await until(synced, what="Envoy to re-sync with the restarted server")
                finally:
                    await restarted.stop()
            finally:
                keep_sending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keep_sending
            assert len(answers) >= 10, answers  # requests did flow during the outage and reconnection
            assert {status for status, _ in answers} == {200}


async def _send_until_cancelled(port: int, answers: list[tuple[int, str]]) -> None:
    while True:
        answers.append(await traffic(port))
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("delta", [False, True], ids=["sotw", "delta"])
async def test_removing_the_last_eds_cluster_leaves_envoy_synced(running: Running, delta: bool) -> None:
    """Envoy drops its EDS subscription with its last cluster and takes the empty EDS response that
    follows without answering it (SotW). The proxy must read SYNCED, not STALE forever (it did: a
    caller whose only visible service scaled to zero was never "ready" again)."""
    listen = free_port()
    with backend() as backend_port:
        running.cache.set_snapshot(NODE, Snapshot.build(world(listen, backend_port, tag="v1")))
        async with running_envoy(NODE, running.server.port, delta=delta):
            sync = running.sync

            async def synced() -> bool:
                proxy = sync.get(NODE)
                return proxy is not None and proxy.status == SYNCED and len(proxy.types) == 4

            await until(synced, what="Envoy to ACK every type")
            empty = {T.LISTENER: [], T.ROUTE: [], T.CLUSTER: [], T.ENDPOINT: []}
            running.cache.set_snapshot(NODE, Snapshot.build(empty))
            await until(lambda: _is(traffic(listen), (0, "")), what="the listener to go")
            await until(synced, within=15.0, what="SYNCED after the last cluster went")
            row = next(r for r in sync.rows() if r["node_id"] == NODE)
            assert all(t["sent"] == t["acked"] for t in row["types"].values()), row["types"]
