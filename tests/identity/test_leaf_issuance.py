"""Leaf certificates: X.509-SVID shape, chain verification, lifetime, and RSA for comparison."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from smimesh.identity import (
    CaMaterialError,
    CertificateAuthority,
    KeyAlgorithm,
    SpiffeId,
    create_root,
    issue_leaf,
)
from smimesh.identity.keys import public_key_der
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN


def _verify(leaf_cert: x509.Certificate, *roots: CertificateAuthority, at=NOW):
    verifier = PolicyBuilder().store(Store([r.certificate for r in roots])).time(at).build_client_verifier()
    return verifier.verify(leaf_cert, [])


def test_leaf_chains_to_its_root_and_names_the_identity(root, bookstore) -> None:
    leaf = issue_leaf(root, bookstore, now=NOW)
    verified = _verify(leaf.certificate(), root)
    assert [san.value for san in verified.subjects] == [bookstore.uri]


def test_leaf_of_another_root_does_not_verify(root, other_root, bookstore) -> None:
    leaf = issue_leaf(other_root, bookstore, now=NOW)
    with pytest.raises(VerificationError):
        _verify(leaf.certificate(), root)


def test_leaf_is_an_x509_svid(root: CertificateAuthority, bookstore: SpiffeId) -> None:
    cert = issue_leaf(root, bookstore, now=NOW).certificate()
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = ext.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    san = ext.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and len(list(san.value)) == 1
    assert cert.subject == x509.Name([])
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == root.key_id
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert cert.issuer == root.certificate.subject


def test_leaf_key_is_fresh_p256_and_matches_its_certificate(root, bookstore) -> None:
    first, second = issue_leaf(root, bookstore, now=NOW), issue_leaf(root, bookstore, now=NOW)
    key = serialization.load_pem_private_key(first.private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert public_key_der(key.public_key()) == public_key_der(first.certificate().public_key())
    assert first.private_key_pem != second.private_key_pem
    assert first.serial != second.serial
    assert "PRIVATE" not in repr(first)


def test_lifetime_defaults_to_24h_and_goes_down_to_seconds(root, bookstore) -> None:
    assert issue_leaf(root, bookstore, now=NOW).not_after == NOW + timedelta(hours=24)
    short = issue_leaf(root, bookstore, now=NOW, lifetime=timedelta(seconds=5))
    assert short.not_after == NOW + timedelta(seconds=5)
    _verify(short.certificate(), root, at=NOW + timedelta(seconds=4))
    with pytest.raises(VerificationError):
        _verify(short.certificate(), root, at=NOW + timedelta(seconds=6))
    with pytest.raises(ValueError, match="at least"):
        issue_leaf(root, bookstore, now=NOW, lifetime=timedelta(milliseconds=500))


def test_leaf_is_backdated_for_clock_skew(root, bookstore) -> None:
    cert = issue_leaf(root, bookstore, now=NOW).certificate()
    assert cert.not_valid_before_utc == NOW - timedelta(seconds=10)


def test_leaf_never_outlives_its_root(bookstore) -> None:
    short_root = create_root(trust_domain=TRUST_DOMAIN, now=NOW, lifetime=timedelta(hours=1))
    leaf = issue_leaf(short_root, bookstore, now=NOW)
    assert leaf.not_after == short_root.not_after


def test_rsa_leaf_for_the_benchmark_comparison(root, bookstore) -> None:
    leaf = issue_leaf(root, bookstore, now=NOW, algorithm=KeyAlgorithm.RSA_2048)
    assert isinstance(leaf.certificate().public_key(), rsa.RSAPublicKey)
    _verify(leaf.certificate(), root)


def test_naive_times_are_refused(root, bookstore) -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(ValueError, match="time-zone aware"):
        issue_leaf(root, bookstore, now=naive)
    with pytest.raises(ValueError, match="time-zone aware"):
        create_root(trust_domain=TRUST_DOMAIN, now=naive)


def test_an_expired_root_issues_nothing(bookstore) -> None:
    short_root = create_root(trust_domain=TRUST_DOMAIN, now=NOW, lifetime=timedelta(hours=1))
    with pytest.raises(CaMaterialError, match="expired") as caught:
        issue_leaf(short_root, bookstore, now=NOW + timedelta(hours=2))
    assert "rotate" in caught.value.hint
