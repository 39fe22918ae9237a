"""Leaf renewal and root rotation under continuous traffic, with two real Envoys: zero failed requests.

The `CertificateBook` runs on the real clock with 4-second leaves; every change it reports is
published to Envoy through file-based SDS (the same `Secret` protos the control plane will serve
over ADS). Envoy A opens a new connection per request, so every request is a fresh mTLS
handshake with whatever certificates are current. Halfway, the root is rotated (distribute,
reissue, retire). A leaf that was not renewed in time, or a root order that was wrong, would make
requests fail; none may.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smimesh.identity import BookChanges, CertificateBook, RotationPhase, SpiffeId, create_root
from smimesh.testing.identity_envoy import bootstrap, cluster, http_backend, http_listener, running_envoy
from smimesh.testing.identity_file_sds import point_at_files, write_secret
from smimesh.testing.identity_helpers import TRUST_DOMAIN
from smimesh.testing.net import free_port
from smimesh.xds import secrets

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(180)]

SECOND = timedelta(seconds=1)
LEAF_LIFETIME = 4 * SECOND
BUYER = SpiffeId(TRUST_DOMAIN, "bookbuyer", "bookbuyer")
STORE = SpiffeId(TRUST_DOMAIN, "bookstore", "bookstore")


@dataclass
class Traffic:
    """Requests sent through Envoy A in a loop until stopped; what came back."""

    port: int
    statuses: Counter[int | str] = field(default_factory=Counter)
    serials: list[str] = field(default_factory=list)
    issuers: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                connection.close()
            except OSError as exc:
                self.statuses[f"{type(exc).__name__}"] += 1
                continue
            self.statuses[response.status] += 1
            self.serials.append(response.getheader("x-peer-serial", ""))
            self.issuers.append(response.getheader("x-peer-issuer", ""))
            time.sleep(0.01)


def publish(
    book: CertificateBook,
    changes: BookChanges,
    directory: Path,
    *,
    everything: bool = False,
) -> None:
    for identity in book.identities if everything else changes.reissued:
        write_secret(directory, secrets.tls_certificate_secret(book.bundle(identity)))
    if everything or changes.trust_bundle_changed:
        write_secret(directory, secrets.trust_bundle_secret(book.trust_bundle))


def drive(book: CertificateBook, directory: Path, seconds: float, ids: Iterable[SpiffeId]) -> None:
    """What the runtime will do: sync the book on the real clock and publish whatever changed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        publish(book, book.sync(ids, datetime.now(UTC)), directory)
        time.sleep(0.05)


def test_leaves_renew_and_the_root_rotates_under_traffic_without_a_failure(tmp_path: Path) -> None:
    sds_dir = tmp_path / "sds"
    sds_dir.mkdir()
    old_root = create_root(trust_domain=TRUST_DOMAIN, now=datetime.now(UTC))
    book = CertificateBook(old_root, trust_domain=TRUST_DOMAIN, leaf_lifetime=LEAF_LIFETIME)
    publish(book, book.sync([BUYER, STORE], datetime.now(UTC)), sds_dir, everything=True)
    server_port, client_port = free_port(), free_port()
    down = point_at_files(secrets.downstream_tls_context(STORE), sds_dir)
    up = point_at_files(secrets.upstream_tls_context(BUYER, [STORE]), sds_dir)
    with http_backend() as backend_port:
        server = bootstrap(
            [http_listener("inbound", server_port, [("/", "backend")], tls=down)],
            [cluster("backend", backend_port)],
            [],
            free_port(),
        )
        client = bootstrap(
            [http_listener("outbound", client_port, [("/", "bookstore")])],
            [cluster("bookstore", server_port, tls=up, one_request_per_connection=True)],
            [],
            free_port(),
        )
        with (
            running_envoy(server, tmp_path, "envoy-b", [server_port]),
            running_envoy(client, tmp_path, "envoy-a", [client_port]),
        ):
            traffic = Traffic(client_port)
            sender = threading.Thread(target=traffic.run)
            sender.start()
            try:
                drive(book, sds_dir, 9.0, [BUYER, STORE])  # two leaf lifetimes: renewals must happen
                new_root = create_root(trust_domain=TRUST_DOMAIN, now=datetime.now(UTC))
                changes = book.begin_root_rotation(
                    new_root, datetime.now(UTC), distribute=2 * SECOND, overlap=2 * SECOND
                )
                publish(book, changes, sds_dir)
                drive(book, sds_dir, 7.0, [BUYER, STORE])  # distribute 2 s, reissue 2 s, retired 3 s
            finally:
                traffic.stop.set()
                sender.join(timeout=10)
    assert book.root_state.phase is RotationPhase.STEADY and book.trust_bundle.key_ids == {new_root.key_id}
    assert set(traffic.statuses) == {200}, f"failed requests: {traffic.statuses}"
    assert traffic.statuses[200] > 50
    assert len(set(traffic.serials)) >= 4, "the client leaf should have been renewed several times"
    old_issuer = old_root.certificate.subject.rfc4514_string()
    new_issuer = new_root.certificate.subject.rfc4514_string()
    assert old_issuer != new_issuer
    assert traffic.issuers[0] == old_issuer and traffic.issuers[-1] == new_issuer
