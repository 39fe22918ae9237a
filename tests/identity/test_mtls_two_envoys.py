"""Real mTLS between two Envoys using xds.secrets' contexts and certificates from our CA.

    client ─http─► Envoy A (bookbuyer: upstream TLS, checks the server is bookstore)
                     ─mTLS─► Envoy B (bookstore: requires a client cert chaining to the root) ─► backend

A request through A passes and B sees A's SPIFFE id. B refuses a client whose certificate comes
from another CA, a client with no certificate, and a client of another trust domain; A refuses a
server that is not the identity it expects.
"""

from __future__ import annotations

import http.client
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smimesh.identity import CertificateAuthority, IdentityBundle, Leaf, SpiffeId, TrustBundle, issue_leaf
from smimesh.testing.identity_envoy import (
    bootstrap,
    cluster,
    http_backend,
    http_listener,
    running_envoy,
    static_secrets,
    tls_get,
)
from smimesh.testing.identity_helpers import TRUST_DOMAIN
from smimesh.testing.net import free_port
from smimesh.xds import secrets

pytestmark = [pytest.mark.envoy, pytest.mark.timeout(120)]


@dataclass(frozen=True)
class Mesh:
    client_port: int  # Envoy A's plaintext listener
    server_port: int  # Envoy B's mTLS listener
    root: CertificateAuthority
    workdir: Path
    client_admin: int
    server_admin: int

    def counter(self, admin_port: int, suffix: str) -> int:
        """Sum of the Envoy counters whose name ends with `suffix` (e.g. `ssl.fail_verify_san`)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/stats?filter=ssl", timeout=5) as reply:
            lines = reply.read().decode().splitlines()
        return sum(int(line.rsplit(": ", 1)[1]) for line in lines if line.split(": ")[0].endswith(suffix))


@pytest.fixture(scope="module")
def backend_port() -> Iterator[int]:
    with http_backend() as port:
        yield port


@pytest.fixture(scope="module")
def mesh(
    root: CertificateAuthority,
    backend_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Mesh]:
    workdir = tmp_path_factory.mktemp("mtls")
    now = datetime.now(UTC)  # real Envoy checks validity against the real clock
    buyer = SpiffeId(TRUST_DOMAIN, "bookbuyer", "bookbuyer")
    store = SpiffeId(TRUST_DOMAIN, "bookstore", "bookstore")
    trust = TrustBundle.of(TRUST_DOMAIN, [root])
    server_port, client_port, server_admin, client_admin = free_port(), free_port(), free_port(), free_port()
    server = bootstrap(
        [
            http_listener(
                "inbound",
                server_port,
                [("/", "backend")],
                tls=secrets.downstream_tls_context(store, via_ads=False),
            )
        ],
        [cluster("backend", backend_port)],
        static_secrets(IdentityBundle(issue_leaf(root, store, now=now), trust)),
        server_admin,
    )
    impostor = SpiffeId(TRUST_DOMAIN, "bookstore", "impostor")
    client = bootstrap(
        [http_listener("outbound", client_port, [("/wrong-server", "expects-impostor"), ("/", "bookstore")])],
        [
            cluster(
                "bookstore", server_port, tls=secrets.upstream_tls_context(buyer, [store], via_ads=False)
            ),
            cluster(
                "expects-impostor",
                server_port,
                tls=secrets.upstream_tls_context(buyer, [impostor], via_ads=False),
            ),
        ],
        static_secrets(IdentityBundle(issue_leaf(root, buyer, now=now), trust)),
        client_admin,
    )
    with (
        running_envoy(server, workdir, "envoy-b", [server_port]),
        running_envoy(client, workdir, "envoy-a", [client_port]),
    ):
        yield Mesh(client_port, server_port, root, workdir, client_admin, server_admin)


def _get(port: int, path: str = "/") -> http.client.HTTPResponse:
    """GET through Envoy A; the response, with its body (Envoy's reason on a 503) as `.body`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.body = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def test_request_through_both_sidecars_passes_with_the_client_identity(mesh: Mesh) -> None:
    response = _get(mesh.client_port)
    assert response.status == 200, response.body
    assert response.getheader("x-peer-identity") == "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer"


def test_client_sidecar_refuses_a_server_with_an_unexpected_identity(mesh: Mesh) -> None:
    refused_before = mesh.counter(mesh.client_admin, "expects-impostor.ssl.fail_verify_san")
    assert _get(mesh.client_port, "/wrong-server").status == 503
    assert mesh.counter(mesh.client_admin, "expects-impostor.ssl.fail_verify_san") > refused_before
    assert _get(mesh.client_port).status == 200  # the same server, expected identity: fine


def _tls_get(mesh: Mesh, leaf: Leaf | None) -> int | str:
    """GET over TLS straight to Envoy B, as `leaf` (or certificate-less); the status, or why it failed."""
    client = None if leaf is None else (leaf.certificate_chain_pem, leaf.private_key_pem)
    return tls_get(mesh.server_port, mesh.root.certificate_pem, mesh.workdir, client)


def test_direct_client_with_a_valid_certificate_passes(mesh: Mesh) -> None:
    """Positive control for the refusals below: the direct client itself works."""
    leaf = issue_leaf(mesh.root, SpiffeId(TRUST_DOMAIN, "bookbuyer", "direct"), now=datetime.now(UTC))
    assert _tls_get(mesh, leaf) == 200


def test_client_certificate_from_another_ca_is_refused(mesh: Mesh, other_root: CertificateAuthority) -> None:
    leaf = issue_leaf(other_root, SpiffeId(TRUST_DOMAIN, "bookbuyer", "bookbuyer"), now=datetime.now(UTC))
    _assert_refused_for(mesh, leaf, "ssl.fail_verify_error")


def test_client_without_certificate_is_refused(mesh: Mesh) -> None:
    _assert_refused_for(mesh, None, "ssl.fail_verify_no_cert")


def test_client_of_another_trust_domain_is_refused(mesh: Mesh) -> None:
    """Signed by our root, but its SPIFFE id is outside the trust domain: the SAN matcher refuses it."""
    leaf = issue_leaf(mesh.root, SpiffeId("evil.example", "bookbuyer", "bookbuyer"), now=datetime.now(UTC))
    _assert_refused_for(mesh, leaf, "ssl.fail_verify_san")


def _assert_refused_for(mesh: Mesh, leaf: Leaf | None, counter: str) -> None:
    """The direct client gets no HTTP answer, and Envoy B counts the refusal under the right reason."""
    before = mesh.counter(mesh.server_admin, counter)
    outcome = _tls_get(mesh, leaf)
    assert isinstance(outcome, str) and outcome.startswith("refused"), outcome
    assert mesh.counter(mesh.server_admin, counter) == before + 1
