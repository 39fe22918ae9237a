"""Derived leaves (identity/derived.py): every replica holding the CA issues the same bytes for an
identity in a renewal window, valid X.509-SVIDs, and renews at the next window."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store

from smimesh.identity import CertificateAuthority, CertificateBook, SpiffeId, load_root
from smimesh.identity.derived import DerivedLeaves
from smimesh.identity.keys import private_key_pem, public_key_der
from smimesh.settings import Settings
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN

DAY = timedelta(hours=24)


def _copy(ca: CertificateAuthority) -> CertificateAuthority:
    """The CA as another replica loads it from the Secret: same PEM, a separate object."""
    return load_root(ca.certificate_pem, private_key_pem(ca.private_key), now=NOW)


def _bytes(leaf) -> tuple[bytes, bytes]:  # type: ignore[no-untyped-def]
    return leaf.certificate_pem, leaf.private_key_pem


def test_two_replicas_issue_byte_identical_leaves(root: CertificateAuthority, bookstore: SpiffeId) -> None:
    derive = DerivedLeaves(0.5)
    first, renew = derive.issue(root, bookstore, now=NOW, lifetime=DAY)
    later = NOW + timedelta(minutes=7)
    assert later < renew  # the same window: a replica started later derives the same leaf
    second, renew_again = derive.issue(_copy(root), bookstore, now=later, lifetime=DAY)
    assert _bytes(first) == _bytes(second) and renew == renew_again
    cert = first.certificate()
    key = serialization.load_pem_private_key(first.private_key_pem, None)
    assert public_key_der(key.public_key()) == public_key_der(cert.public_key())  # type: ignore[arg-type]
    store = Store([root.certificate])
    verified = PolicyBuilder().store(store).time(NOW).build_client_verifier().verify(cert, [])
    assert [san.value for san in verified.subjects] == [bookstore.uri]


def test_identity_window_lifetime_and_ca_each_change_the_key(
    root: CertificateAuthority, other_root: CertificateAuthority, bookstore: SpiffeId, bookbuyer: SpiffeId
) -> None:
    derive = DerivedLeaves(0.5)
    base, renew = derive.issue(root, bookstore, now=NOW, lifetime=DAY)
    variants = [
        derive.issue(root, bookbuyer, now=NOW, lifetime=DAY)[0],
        derive.issue(root, bookstore, now=renew, lifetime=DAY)[0],  # the next window
        derive.issue(root, bookstore, now=NOW, lifetime=DAY * 2)[0],
        derive.issue(other_root, bookstore, now=NOW, lifetime=DAY)[0],
    ]
    keys = {base.private_key_pem, *(leaf.private_key_pem for leaf in variants)}
    serials = {base.serial, *(leaf.serial for leaf in variants)}
    assert len(keys) == len(serials) == 5


def test_a_window_renews_at_the_renew_fraction_and_leaves_life_after_it(
    root: CertificateAuthority, bookstore: SpiffeId
) -> None:
    leaf, renew = DerivedLeaves(0.5).issue(root, bookstore, now=NOW, lifetime=DAY)
    assert leaf.issued_at <= NOW < renew
    assert renew - leaf.issued_at == DAY / 2
    assert leaf.not_after - renew == DAY / 2  # renewed with half its life left
    assert leaf.certificate().not_valid_before_utc <= NOW


def test_identities_renew_at_different_points(root: CertificateAuthority) -> None:
    derive = DerivedLeaves(0.5)
    renewals = {
        derive.issue(root, SpiffeId(TRUST_DOMAIN, "ns", f"sa-{i}"), now=NOW, lifetime=DAY)[1]
        for i in range(20)
    }
    assert len(renewals) > 15  # spread over the window, not one burst


def test_a_derived_book_matches_on_two_replicas_and_renews(root: CertificateAuthority, bookstore) -> None:
    settings = Settings()
    books = [CertificateBook.from_settings(ca, settings, derived=True) for ca in (root, _copy(root))]
    books[0].sync({bookstore}, NOW)
    books[1].sync({bookstore}, NOW + timedelta(seconds=30))
    first, second = (book.bundle(bookstore).leaf for book in books)
    assert _bytes(first) == _bytes(second)
    renew_at = books[0].renew_at(bookstore)
    changes = books[0].sync({bookstore}, renew_at)
    assert changes.reissued == {bookstore}
    assert books[0].bundle(bookstore).leaf.serial != first.serial


def test_the_random_book_stays_random(root: CertificateAuthority, bookstore: SpiffeId) -> None:
    books = [CertificateBook.from_settings(root, Settings()) for _ in range(2)]
    for book in books:
        book.sync({bookstore}, NOW)
    assert books[0].bundle(bookstore).leaf.private_key_pem != books[1].bundle(bookstore).leaf.private_key_pem
    assert isinstance(books[0].bundle(bookstore).leaf.certificate(), x509.Certificate)
