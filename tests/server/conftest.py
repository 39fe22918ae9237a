"""Fixtures of the server tests: a leak guard for asyncio tasks and a running ADS server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.metrics import ControlPlaneMetrics
from smimesh.server.sync import SyncState
from smimesh.testing.server_harness import Running


async def _leaked(before: set[asyncio.Task[object]]) -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    for _ in range(50):  # cancelled tasks need a few loop turns to finish
        leaked = {t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()}
        if not leaked:
            return set()
        await asyncio.sleep(0.01)
    return leaked


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fails the test if it leaves asyncio tasks running (kopf's aiotasks rule)."""
    before = set(asyncio.all_tasks())
    yield
    leaked = await _leaked(before)
    assert not leaked, f"tasks leaked: {[t.get_name() for t in leaked]}"


@pytest.fixture
async def running(no_leaked_tasks: None) -> AsyncIterator[Running]:
    cache, sync, metrics = SnapshotCache(), SyncState(), ControlPlaneMetrics()
    server = XdsServer(cache, sync, metrics=metrics)
    await server.start()
    state = Running(server, cache, sync, metrics, [])
    try:
        yield state
    finally:
        for client in state.clients:
            await client.close()
        await server.stop()
