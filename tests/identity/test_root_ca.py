"""The root CA: what smimesh creates, and every way a user-supplied root is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from smimesh.identity import CaMaterialError, CertificateAuthority, create_root, load_root
from smimesh.identity.keys import private_key_pem
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN


def _self_signed(
    key,
    *,
    ca: bool | None = True,
    key_cert_sign: bool = True,
    start=NOW - timedelta(days=1),
    end=NOW + timedelta(days=30),
    issuer: str = "user root",
):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "user root")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    builder = builder.add_extension(usage, critical=True)
    return builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_created_root_is_a_p256_ca_for_the_trust_domain(root: CertificateAuthority) -> None:
    cert = root.certificate
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"spiffe://{TRUST_DOMAIN}"]
    assert cert.not_valid_before_utc <= NOW < cert.not_valid_after_utc
    assert root.key_id == cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert len(root.fingerprint) == 64
    assert "private_key" not in repr(root)


def test_two_roots_differ_even_in_name_when_created_in_the_same_second(root, other_root) -> None:
    assert root.key_id != other_root.key_id and root.fingerprint != other_root.fingerprint
    assert root.certificate.subject != other_root.certificate.subject


def test_created_root_round_trips_through_pem(root: CertificateAuthority) -> None:
    loaded = load_root(root.certificate_pem, private_key_pem(root.private_key), now=NOW)
    assert loaded.key_id == root.key_id and loaded.fingerprint == root.fingerprint


def test_user_rsa_root_is_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    loaded = load_root(_pem(_self_signed(key, issuer="user root")), _key_pem(key), now=NOW)
    assert loaded.certificate.subject.rfc4514_string() == "CN=user root"


def _refusal(cert_pem: bytes, key_pem: bytes) -> CaMaterialError:
    with pytest.raises(CaMaterialError) as caught:
        load_root(cert_pem, key_pem, now=NOW, source="--ca-cert c.pem / --ca-key k.pem")
    assert "c.pem" in caught.value.message
    assert caught.value.hint
    return caught.value


def test_refuses_garbage_certificate(root: CertificateAuthority) -> None:
    err = _refusal(b"hello", private_key_pem(root.private_key))
    assert "not a PEM X.509 certificate" in err.message


def test_refuses_garbage_key(root: CertificateAuthority) -> None:
    garbage = b"-----BEGIN PRIVATE KEY-----\nxx"
    assert "not a PEM private key" in _refusal(root.certificate_pem, garbage).message


def test_refuses_encrypted_key(root: CertificateAuthority) -> None:
    encrypted = root.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    err = _refusal(root.certificate_pem, encrypted)
    assert "encrypted" in err.message and "openssl pkey" in err.hint


def test_refuses_key_of_another_ca(root: CertificateAuthority, other_root: CertificateAuthority) -> None:
    err = _refusal(root.certificate_pem, private_key_pem(other_root.private_key))
    assert "does not belong to the (first) CA certificate" in err.message


def test_refuses_a_leaf_certificate() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert "CA:FALSE" in _refusal(_pem(_self_signed(key, ca=False)), _key_pem(key)).message


def test_refuses_certificate_without_basic_constraints() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert "no basicConstraints" in _refusal(_pem(_self_signed(key, ca=None)), _key_pem(key)).message


def test_refuses_ca_that_may_not_sign_certificates() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert "no keyCertSign" in _refusal(_pem(_self_signed(key, key_cert_sign=False)), _key_pem(key)).message


def test_refuses_an_intermediate_without_its_chain() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    err = _refusal(_pem(_self_signed(key, issuer="corporate root")), _key_pem(key))
    assert "not self-signed" in err.message and "append the issuing CA certificates" in err.hint


def test_refuses_expired_root() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, start=NOW - timedelta(days=30), end=NOW - timedelta(seconds=1))
    assert "expired at" in _refusal(_pem(cert), _key_pem(key)).message


def test_refuses_root_not_yet_valid() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, start=NOW + timedelta(hours=1))
    err = _refusal(_pem(cert), _key_pem(key))
    assert "not valid before" in err.message and "clock" in err.hint


def test_refuses_weak_rsa_and_unsupported_keys() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert "1024 bits" in _refusal(_pem(_self_signed(weak)), _key_pem(weak)).message
    edwards = ed25519.Ed25519PrivateKey.generate()
    assert "not supported" in _refusal(_pem(_self_signed(edwards)), _key_pem(edwards)).message


def test_created_root_lifetime_is_a_parameter() -> None:
    short = create_root(trust_domain=TRUST_DOMAIN, now=NOW, lifetime=timedelta(hours=2))
    assert short.not_after == NOW + timedelta(hours=2)
