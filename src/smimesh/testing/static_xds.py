"""A stand-in control plane for pod tests that need Envoy initialised but no mesh config:
`python -m smimesh.testing.static_xds HOST:PORT NODE...` serves every listed node an empty snapshot
(no listeners, clusters, routes or endpoints) over ADS and prints `serving` once it listens."""

from __future__ import annotations

import asyncio
import sys

from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.sync import SyncState
from smimesh.xds import type_urls
from smimesh.xds.snapshot import Snapshot


async def main(address: str, nodes: list[str]) -> None:
    host, _, port = address.rpartition(":")
    cache = SnapshotCache()
    empty = Snapshot.build({t: [] for t in (type_urls.CLUSTER, type_urls.LISTENER)})
    for node in nodes:
        cache.set_snapshot(node, empty)
    server = XdsServer(cache, SyncState(), host=host, port=int(port))
    await server.start()
    print("serving", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
