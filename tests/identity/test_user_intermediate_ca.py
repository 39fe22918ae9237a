"""A user's intermediate CA (`--ca-cert` = intermediate + chain up to the root): accepted, and leaves
issued under it chain to the corporate root; broken chains are refused with the position and fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store

from smimesh.identity import (
    CaMaterialError,
    CertificateBook,
    IdentityBundle,
    load_root,
    load_root_files,
    save_root,
)
from smimesh.identity.keys import private_key_pem
from smimesh.testing.identity_envoy import (
    bootstrap,
    cluster,
    http_backend,
    http_listener,
    running_envoy,
    static_secrets,
    tls_get,
)
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN
from smimesh.testing.net import free_port
from smimesh.xds import secrets

_CA_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _ca(name: str, key, issuer_name: str, issuer_key, *, end=None, now=NOW) -> x509.Certificate:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(end or now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(ski, critical=False)
        .add_extension(aki, critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _corporate_pki(now: datetime) -> dict:
    """root -> policy CA -> issuing CA (the one whose key the mesh gets), valid around `now`."""
    root_key, mid_key, issuing_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _ca("corporate root", root_key, "corporate root", root_key, now=now)
    middle = _ca("corporate policy CA", mid_key, "corporate root", root_key, now=now)
    issuing = _ca("mesh issuing CA", issuing_key, "corporate policy CA", mid_key, now=now)
    return {
        "root": root,
        "middle": middle,
        "issuing": issuing,
        "issuing_key": issuing_key,
        "root_key": root_key,
    }


@pytest.fixture(scope="module")
def corporate() -> dict:
    return _corporate_pki(NOW)


def test_an_intermediate_signs_leaves_that_chain_to_the_corporate_root(corporate, bookstore) -> None:
    ca = load_root(
        _pem(corporate["issuing"], corporate["middle"], corporate["root"]),
        private_key_pem(corporate["issuing_key"]),
        now=NOW,
    )
    assert not ca.is_root and ca.anchor_pem == _pem(corporate["root"])
    book = CertificateBook(ca, trust_domain=TRUST_DOMAIN)
    book.sync([bookstore], NOW)
    bundle: IdentityBundle = book.bundle(bookstore)
    presented = x509.load_pem_x509_certificates(bundle.certificate_chain_pem)
    assert [c.subject for c in presented[1:]] == [corporate["issuing"].subject, corporate["middle"].subject]
    assert bundle.trust.pem == _pem(corporate["root"])
    verifier = PolicyBuilder().store(Store([corporate["root"]])).time(NOW).build_client_verifier()
    verified = verifier.verify(presented[0], presented[1:])
    assert [san.value for san in verified.subjects] == [bookstore.uri]


def test_leaves_never_outlive_any_certificate_of_the_chain(corporate, bookstore) -> None:
    short = _ca(
        "short-lived issuing CA",
        corporate["issuing_key"],
        "corporate root",
        corporate["root_key"],
        end=NOW + timedelta(hours=2),
    )
    ca = load_root(_pem(short, corporate["root"]), private_key_pem(corporate["issuing_key"]), now=NOW)
    book = CertificateBook(ca, trust_domain=TRUST_DOMAIN)
    book.sync([bookstore], NOW)
    assert book.bundle(bookstore).leaf.not_after == NOW + timedelta(hours=2)


def test_an_intermediate_survives_a_save_and_load(corporate, tmp_path) -> None:
    ca = load_root(
        _pem(corporate["issuing"], corporate["middle"], corporate["root"]),
        private_key_pem(corporate["issuing_key"]),
        now=NOW,
    )
    files = save_root(tmp_path, ca)
    again = load_root_files(files.cert, files.key, now=NOW)
    assert again.fingerprint == ca.fingerprint and again.anchor_pem == ca.anchor_pem
    assert again.chain_pem == ca.chain_pem


def _refusal(cert_pem: bytes, key) -> CaMaterialError:
    with pytest.raises(CaMaterialError) as caught:
        load_root(cert_pem, private_key_pem(key), now=NOW, source="ca.pem, ca.key")
    return caught.value


def test_refuses_a_chain_out_of_order(corporate) -> None:
    shuffled = _pem(corporate["issuing"], corporate["root"], corporate["middle"])
    err = _refusal(shuffled, corporate["issuing_key"])
    assert "certificate 1 of 3 (CN=mesh issuing CA)" in err.message
    assert "not signed by the certificate after it" in err.message and "order --ca-cert" in err.hint


def test_refuses_a_chain_that_stops_below_the_root(corporate) -> None:
    err = _refusal(_pem(corporate["issuing"], corporate["middle"]), corporate["issuing_key"])
    assert "certificate 2 of 2 (CN=corporate policy CA)" in err.message and "not self-signed" in err.message


def test_refuses_the_key_of_another_certificate_in_the_chain(corporate) -> None:
    err = _refusal(_pem(corporate["issuing"], corporate["middle"], corporate["root"]), corporate["root_key"])
    assert "does not belong" in err.message and "put that CA first" in err.hint


def test_refuses_an_expired_certificate_anywhere_in_the_chain(corporate) -> None:
    expired_middle = _ca(
        "corporate policy CA",
        ec.generate_private_key(ec.SECP256R1()),
        "corporate root",
        corporate["root_key"],
        end=NOW - timedelta(seconds=1),
    )
    err = _refusal(_pem(corporate["issuing"], expired_middle, corporate["root"]), corporate["issuing_key"])
    assert "certificate 2 of 3" in err.message and "expired" in err.message


@pytest.mark.envoy
def test_envoy_accepts_and_presents_intermediate_chains(bookstore, bookbuyer, tmp_path) -> None:
    """Envoy trusts only the corporate root: the client's chain, and Envoy's own (checked by the client
    against the root alone), work only if the intermediates travel with the leaves."""
    corporate = _corporate_pki(datetime.now(UTC))  # real Envoy checks validity on the real clock
    ca = load_root(
        _pem(corporate["issuing"], corporate["middle"], corporate["root"]),
        private_key_pem(corporate["issuing_key"]),
        now=datetime.now(UTC),
    )
    book = CertificateBook(ca, trust_domain=TRUST_DOMAIN)
    book.sync([bookstore, bookbuyer], datetime.now(UTC))
    port = free_port()
    listener = http_listener(
        "inbound", port, [("/", "backend")], tls=secrets.downstream_tls_context(bookstore, via_ads=False)
    )
    buyer = book.bundle(bookbuyer).leaf
    with http_backend() as backend_port:
        config = bootstrap(
            [listener],
            [cluster("backend", backend_port)],
            static_secrets(book.bundle(bookstore)),
            free_port(),
        )
        with running_envoy(config, tmp_path, "envoy-intermediate", [port]):
            root_pem = _pem(corporate["root"])
            with_chain = (buyer.certificate_chain_pem, buyer.private_key_pem)
            assert tls_get(port, root_pem, tmp_path, with_chain) == 200
            leaf_only = tls_get(port, root_pem, tmp_path, (buyer.certificate_pem, buyer.private_key_pem))
            assert str(leaf_only).startswith("refused")  # control: without intermediates it cannot chain
