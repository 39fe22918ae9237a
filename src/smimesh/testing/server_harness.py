"""The running server the server tests talk to, and a way to attach test clients to it."""

from __future__ import annotations

from dataclasses import dataclass

from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.metrics import ControlPlaneMetrics
from smimesh.server.sync import SyncState
from smimesh.testing.ads_client import AdsClient, Mode


@dataclass
class Running:
    server: XdsServer
    cache: SnapshotCache
    sync: SyncState
    metrics: ControlPlaneMetrics
    clients: list[AdsClient]

    async def client(self, node_id: str, mode: Mode = "sotw", *, follow: bool = False) -> AdsClient:
        client = await AdsClient(node_id, address=self.server.address, mode=mode, follow=follow).connect()
        self.clients.append(client)
        return client
