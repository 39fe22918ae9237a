"""Throwaway certificates for the static Envoy pair: one CA and two SPIFFE leaves, in memory.

Same shape as the mesh issues (ECDSA P-256, URI SAN `spiffe://<td>/ns/<ns>/sa/<sa>`), so the static
pair pays the same handshake and verification cost the sidecars do. Nothing here is ever written
outside the benchmark's temporary directory.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TRUST_DOMAIN = "bench.local"
LIFETIME = datetime.timedelta(hours=2)


@dataclass(frozen=True)
class Pem:
    cert: str
    key: str


def spiffe_uri(service_account: str) -> str:
    return f"spiffe://{TRUST_DOMAIN}/ns/bench/sa/{service_account}"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _builder(
    subject: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + LIFETIME)
    )


def make_ca() -> tuple[Pem, ec.EllipticCurvePrivateKey, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smimesh bench CA")])
    cert = (
        _builder("smimesh bench CA", name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Pem(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key)), key, name


def make_leaf(ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, service_account: str) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(service_account, ca_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_uri(service_account))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Pem(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def issue_pair() -> tuple[Pem, Pem, Pem]:
    """(ca, client leaf, server leaf)."""
    ca, ca_key, ca_name = make_ca()
    return ca, make_leaf(ca_key, ca_name, "client"), make_leaf(ca_key, ca_name, "server")
