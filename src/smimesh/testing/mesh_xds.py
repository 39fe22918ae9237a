"""A test control plane serving pods the config smimesh generates for them, with the egress switch.

`python -m smimesh.testing.mesh_xds HOST:PORT MANIFESTS POD...` (each POD `namespace/name/account/ip`)
builds the mesh model of the manifests (YAML) with those pods as transparent instances (as the
controller sees injected pods), serves each pod's sidecar `generate(proxy_view(...))` over ADS (plain:
the egress tests need no mTLS) and prints `serving`. A line `open` or `policy` on stdin rebuilds the
model with that MeshConfig egress mode and publishes it, then prints `switched <mode>`: the live
switch of `smimesh up`'s MeshConfig, for pods in the network-namespace tests.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from smimesh.mesh import Instance, build_model, proxy_view
from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.sync import SyncState
from smimesh.testing.bookstore import load_world
from smimesh.xds import generate
from smimesh.xds.snapshot import Snapshot


def pod_instance(text: str) -> Instance:
    namespace, name, account, ip = text.split("/")
    return Instance(namespace, name, name, account, host=ip, transparent=True)


def publish(cache: SnapshotCache, manifests: Path, pods: list[Instance], egress_open: bool) -> None:
    model = build_model(load_world(manifests.read_text()), pods, egress_open=egress_open)
    for pod in pods:
        cache.set_snapshot(pod.node_id, Snapshot.build(generate(proxy_view(model, pod.node_id))))


async def main(address: str, manifests: Path, pods: list[Instance]) -> None:
    host, _, port = address.rpartition(":")
    cache = SnapshotCache()
    publish(cache, manifests, pods, egress_open=False)
    server = XdsServer(cache, SyncState(), host=host, port=int(port))
    await server.start()
    print("serving", flush=True)
    loop = asyncio.get_running_loop()
    while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        publish(cache, manifests, pods, egress_open=line == "open")
        print(f"switched {line}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), [pod_instance(p) for p in sys.argv[3:]]))
