"""Eventual consistency under churn: whatever sequence of changes, NACKs and reconnects a proxy sees,
once things settle it holds exactly the latest snapshot (no lost update behind a response in flight)."""

from __future__ import annotations

import asyncio
import random

import pytest

from smimesh.server.sync import SYNCED
from smimesh.testing.ads_client import AdsClient
from smimesh.testing.server_harness import Running
from smimesh.testing.server_world import world
from smimesh.xds import type_urls as T
from smimesh.xds.snapshot import Snapshot

TYPES = (T.CLUSTER, T.ENDPOINT, T.LISTENER, T.ROUTE)


def random_world(rng: random.Random) -> Snapshot:
    resources = world(rng.randint(1, 3), rng.randint(4, 6), tag=f"v{rng.randint(1, 4)}")
    for extra in rng.sample(["b", "c", "d"], rng.randint(0, 3)):
        more = world(1, rng.randint(7, 8), backend=extra)
        resources[T.CLUSTER] += more[T.CLUSTER]
        resources[T.ENDPOINT] += more[T.ENDPOINT]
    return Snapshot.build(resources)


def holds(client: AdsClient, snapshot: Snapshot) -> bool:
    return all(
        {name: packed.value for name, packed in client.state(t).resources.items()}
        == {name: entry.resource.value for name, entry in snapshot.entries(t).items()}
        for t in TYPES
    )


@pytest.mark.parametrize("mode", ["sotw", "delta"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("nacks", [False, True], ids=["acks", "nacks"])
async def test_churn_settles_on_the_latest_snapshot(
    running: Running, mode: str, seed: int, nacks: bool
) -> None:
    rng = random.Random(seed)
    running.cache.set_snapshot("a.ns", random_world(rng))
    client = await running.client("a.ns", mode, follow=True)  # type: ignore[arg-type]
    await client.subscribe(T.CLUSTER)
    await client.subscribe(T.LISTENER)
    for step in range(40):
        running.cache.set_snapshot("a.ns", random_world(rng))
        if nacks and rng.random() < 0.15:
            client.reject[rng.choice(TYPES)] = f"rejected at step {step}"
        elif client.reject and rng.random() < 0.5:
            client.reject.clear()
        if rng.random() < 0.05:
            await client.reconnect()
        await asyncio.sleep(rng.choice([0, 0, 0.001, 0.005]))
    client.reject.clear()
    latest = random_world(rng)  # without NACKs, even content seen before must arrive
    if nacks:  # new content in every type: a NACKed version is (by design) not resent until it changes
        final = world(9, 9, tag="final")
        final[T.CLUSTER] += world(9, 10, backend="final")[T.CLUSTER]
        final[T.ENDPOINT] += world(9, 10, backend="final")[T.ENDPOINT]
        latest = Snapshot.build(final)
    running.cache.set_snapshot("a.ns", latest)
    await client.wait_for(lambda c: holds(c, latest) and running.sync.status("a.ns") == SYNCED)
