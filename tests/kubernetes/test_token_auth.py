"""Sidecar identity in a cluster: projected service-account tokens checked with TokenReview. A sidecar
gets only its own pod's config and its own service account's certificate; a stolen (dead pod's),
wrong-audience or another pod's token, no token, and a failing TokenReview are refused and logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
import pytest
from cryptography import x509
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from tests.kubernetes.kube_e2e import ControllerThread, KubeWorld, LoopbackPod
from tests.kubernetes.kube_world import meshed_namespace

from smimesh.testing.ads_client import AdsClient
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.net import wait_until
from smimesh.xds import type_urls


def TokenClient(node_id: str, token: str, *, address: str) -> AdsClient:
    """An Envoy-like ADS client sending `authorization: Bearer <token>`, as the sidecar bootstrap does."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    return AdsClient(node_id, address=address, metadata=metadata)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeWorld, ControllerThread]]:
    with KubeApiServer() as api:
        world = KubeWorld(api, tmp_path_factory.mktemp("tokens"))
        try:
            world.install()
            meshed_namespace(api, "shop")
            replica = world.start_replica("replica-a")
            for pod in (
                LoopbackPod("web-0", "shop", "web", {"app": "web"}),
                LoopbackPod("client-0", "shop", "client", {"app": "client"}, serves=False),
            ):
                api.create(pod.pod_object())
            wait_until(
                lambda: (
                    replica.call(lambda c: {i.node_id for i in c.source.instances})
                    == {"web-0.shop", "client-0.shop"}
                ),
                30,
                what="both pods known",
            )
            yield world, replica
        finally:
            world.close()


async def secrets(client: AdsClient, names: list[str]) -> dict[str, bytes]:
    await client.connect()
    try:
        await client.subscribe(type_urls.SECRET, names)
        await client.wait_for(
            lambda c: c.state(type_urls.SECRET).responses > 0 or c.closed_with is not None, 10
        )
        return {name: packed.value for name, packed in client.state(type_urls.SECRET).resources.items()}
    finally:
        await client.close()


def address(replica: ControllerThread) -> str:
    return f"127.0.0.1:{replica.ctl.xds_port}"


async def test_a_pods_token_gets_its_own_config_and_its_accounts_certificate(
    cluster: tuple[KubeWorld, ControllerThread],
) -> None:
    world, replica = cluster
    token = world.api.issue_token("shop", "web", pod="web-0")
    got = await secrets(
        TokenClient("web-0.shop", token, address=address(replica)),
        ["identity:self", "trust-bundle:cluster.local"],
    )
    assert set(got) == {"identity:self", "trust-bundle:cluster.local"}
    secret = secret_pb2.Secret()
    secret.ParseFromString(got["identity:self"])
    cert = x509.load_pem_x509_certificate(secret.tls_certificate.certificate_chain.inline_bytes)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster.local/ns/shop/sa/web"
    ]


@pytest.mark.parametrize(
    "case",
    [
        "another pod's token",
        "wrong audience",
        "stolen from a deleted pod",
        "no token",
        "made-up token",
        "TokenReview fails",
    ],
)
async def test_bad_tokens_are_refused_and_logged(
    cluster: tuple[KubeWorld, ControllerThread], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    world, replica = cluster
    api = world.api
    caplog.set_level(logging.WARNING)
    node, token, reason = "web-0.shop", "", ""
    if case == "another pod's token":
        token, reason = api.issue_token("shop", "client", pod="client-0"), "cannot fetch the config of node"
    elif case == "wrong audience":
        token = api.issue_token("shop", "web", pod="web-0", audiences=["https://kubernetes.default.svc"])
        reason = "invalid for the target audiences"
    elif case == "stolen from a deleted pod":
        gone = LoopbackPod("gone-0", "shop", "web", {"app": "gone"}, serves=False)
        api.create(gone.pod_object())
        token = api.issue_token("shop", "web", pod="gone-0")
        api.delete(gone.pod_object())
        node, reason = "gone-0.shop", "not found or recreated"
    elif case == "no token":
        reason = "no service-account token"
    elif case == "made-up token":
        token, reason = "eyJhbGciOi.not-a-token", "token lookup failed"
    else:
        token, reason = api.issue_token("shop", "web", pod="web-0"), "TokenReview failed"
        api.faults["tokenreviews"] = 500
    client = TokenClient(node, token, address=address(replica))
    try:
        assert await secrets(client, ["identity:self"]) == {}
    finally:
        api.faults.clear()
    assert client.closed_with is grpc.StatusCode.PERMISSION_DENIED
    refusals = replica.call(lambda c: [r.reason for r in c.authenticator.refusals])
    assert reason in refusals[-1], refusals[-1]
    assert "refused a stream" in caplog.text and reason in caplog.text
