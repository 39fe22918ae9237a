"""xDS authentication and SDS: a proxy gets only its own config and its own identity's secrets."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import grpc
import pytest
from envoy.service.discovery.v3 import ads_pb2_grpc

from smimesh.identity import CertificateBook, SpiffeId, create_root
from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.sds import SecretGuard
from smimesh.server.sync import SyncState
from smimesh.server.xds_auth import TOKEN_HEADER, NodeAuthenticator
from smimesh.testing.ads_client import AdsClient
from smimesh.xds import type_urls
from smimesh.xds.secrets import secrets_for
from smimesh.xds.snapshot import Snapshot

NOW = datetime(2026, 1, 1, tzinfo=UTC)
WEB, CLIENT = SpiffeId("cluster.local", "shop", "web"), SpiffeId("cluster.local", "shop", "client")
NODES = {"web-0.shop": WEB, "client-0.shop": CLIENT}


class CredentialedClient(AdsClient):
    """The test kit's Envoy-like client, sending a node credential as Envoy's initial metadata does."""

    def __init__(self, node_id: str, token: str, **options: object) -> None:
        super().__init__(node_id, **options)  # type: ignore[arg-type]
        self.token = token

    async def connect(self) -> AdsClient:
        self._channel = self._channel or grpc.aio.insecure_channel(self._address)
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self._channel)
        self._outbox, self._first = asyncio.Queue(), True
        self._call = stub.StreamAggregatedResources(self._requests(), metadata=((TOKEN_HEADER, self.token),))
        self._receiver = asyncio.create_task(self._receive(self._call))
        return self


@pytest.fixture
async def server() -> tuple[XdsServer, NodeAuthenticator, SecretGuard]:
    book = CertificateBook(create_root(trust_domain="cluster.local", now=NOW), trust_domain="cluster.local")
    book.sync(set(NODES.values()), NOW)
    cache = SnapshotCache()
    for node, identity in NODES.items():
        cache.set_snapshot(node, Snapshot.build({type_urls.SECRET: secrets_for(book.bundle(identity))}))
    auth, guard = NodeAuthenticator(), SecretGuard(NODES.get)
    xds = XdsServer(cache, SyncState(), hooks=[auth, guard])
    await xds.start()
    yield xds, auth, guard
    await xds.stop(0)


async def _secrets(client: AdsClient, names: list[str]) -> set[str]:
    await client.connect()
    await client.subscribe(type_urls.SECRET, names)
    await client.wait_for(lambda c: c.state(type_urls.SECRET).responses > 0 or c.closed_with is not None, 5)
    return set(client.state(type_urls.SECRET).resources)


async def test_the_right_credential_gets_the_nodes_own_secrets(server) -> None:  # type: ignore[no-untyped-def]
    xds, auth, _ = server
    client = CredentialedClient("client-0.shop", auth.token_for("client-0.shop"), address=xds.address)
    own = "identity:spiffe://cluster.local/ns/shop/sa/client"
    try:
        assert await _secrets(client, [own, "trust-bundle:cluster.local"]) == {
            own,
            "trust-bundle:cluster.local",
        }
    finally:
        await client.close()


async def test_another_nodes_id_or_no_credential_gets_nothing_and_is_logged(server, caplog) -> None:  # type: ignore[no-untyped-def]
    xds, auth, _ = server
    caplog.set_level(logging.WARNING)
    for client in (
        CredentialedClient(
            "web-0.shop", auth.token_for("client-0.shop"), address=xds.address
        ),  # stolen token
        AdsClient("web-0.shop", address=xds.address),  # no credential at all
    ):
        try:
            assert await _secrets(client, ["identity:spiffe://cluster.local/ns/shop/sa/web"]) == set()
            assert client.closed_with is grpc.StatusCode.PERMISSION_DENIED
        finally:
            await client.close()
    assert [r.reason for r in auth.refusals] == [
        "credential not issued for this node id",
        "no node credential",
    ]
    assert "refused a stream" in caplog.text


async def test_asking_for_another_identitys_secret_gets_nothing_and_is_logged(server, caplog) -> None:  # type: ignore[no-untyped-def]
    xds, auth, guard = server
    caplog.set_level(logging.WARNING)
    client = CredentialedClient("client-0.shop", auth.token_for("client-0.shop"), address=xds.address)
    theirs = "identity:spiffe://cluster.local/ns/shop/sa/web"
    try:
        assert await _secrets(client, [theirs]) == set()
    finally:
        await client.close()
    assert [r.reason for r in guard.refusals] == [f"secret {theirs}"]
    assert "not its own" in caplog.text


def test_the_guard_allows_the_own_certificate_name_and_the_trust_bundle_only() -> None:
    from smimesh.xds.secrets import OWN_CERTIFICATE

    guard = SecretGuard(NODES.get)
    assert guard.forbidden("client-0.shop", [OWN_CERTIFICATE, "trust-bundle:cluster.local"]) == []
    assert guard.forbidden("client-0.shop", ["trust-bundle:other.domain"]) == ["trust-bundle:other.domain"]
    assert guard.forbidden("unknown.node", [OWN_CERTIFICATE]) == [OWN_CERTIFICATE]
