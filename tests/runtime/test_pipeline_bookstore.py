"""The real pipeline (real build_model / proxy_view / generate) over the bookstore world, served by the
real ADS server to Envoy-like test clients: every sidecar converges, and a change reaches only the
sidecars whose view it changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from smimesh.runtime.pipeline import Pipeline
from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.sync import SYNCED, SyncState
from smimesh.settings import Settings
from smimesh.testing import bookstore
from smimesh.testing.ads_client import AdsClient
from smimesh.xds import type_urls as T

SPLIT_50_50 = bookstore.SPLIT_TEMPLATE % (50, 50)


class ListStore:
    """A store whose snapshot is a list of hub resources (build_model accepts that too)."""

    def __init__(self, resources: list[Any]) -> None:
        self.resources = resources
        self.queue: asyncio.Queue[None] = asyncio.Queue()

    def snapshot(self) -> list[Any]:
        return list(self.resources)

    async def subscribe(self) -> AsyncIterator[None]:
        yield None
        while True:
            yield await self.queue.get()


@pytest.mark.parametrize("mode", ["sotw", "delta"])
async def test_bookstore_converges_and_a_split_change_reaches_only_callers(
    mode: str, no_leaked_tasks: None
) -> None:
    resources = bookstore.world()
    instances = bookstore.world_instances(resources)
    store, cache, sync = ListStore(resources), SnapshotCache(), SyncState()
    server = XdsServer(cache, sync)
    await server.start()
    pipeline = Pipeline(store, cache, settings=Settings())
    pipeline.set_instances(instances)
    task = asyncio.create_task(pipeline.run())
    clients = [AdsClient(i.node_id, address=server.address, mode=mode, follow=True) for i in instances]  # type: ignore[arg-type]
    try:
        for client in clients:
            await client.connect()
            await client.subscribe(T.CLUSTER)
            await client.subscribe(T.LISTENER)
        for client in clients:
            await client.wait_for(
                lambda c: sync.status(c.node_id) == SYNCED and c.state(T.LISTENER).acks >= 1
            )
        assert pipeline.diagnostics == [] or all(not d.is_error for d in pipeline.diagnostics)
        routes_before = {c.node_id: c.state(T.ROUTE).responses for c in clients}
        store.resources = bookstore.world(SPLIT_50_50, replace=["TrafficSplit/bookstore"])
        store.queue.put_nowait(None)
        buyer = next(c for c in clients if c.node_id == bookstore.BUYER)
        await buyer.wait_for(lambda c: c.state(T.ROUTE).responses > routes_before[c.node_id])
        await buyer.wait_for(lambda c: sync.status(c.node_id) == SYNCED)
        changed = {c.node_id for c in clients if c.state(T.ROUTE).responses > routes_before[c.node_id]}
        assert changed == {bookstore.BUYER}  # the only caller of the split root
        assert pipeline.stats.proxies_recomputed == len(instances) + 1
    finally:
        for client in clients:
            await client.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.stop()
