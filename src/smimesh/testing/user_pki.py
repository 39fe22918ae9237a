"""A user's PKI for tests of `--ca-cert/--ca-key`: a self-signed root and an intermediate it signed,
written as PEM files the way a user hands them over (chain first-to-root, key 0600)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_CA_USAGE = x509.KeyUsage(
    digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
        now: datetime, lifetime: timedelta) -> x509.Certificate:  # fmt: skip
    return (
        x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )  # fmt: skip


def write_user_ca(
    directory: Path, now: datetime, lifetime: timedelta = timedelta(days=30)
) -> tuple[Path, Path]:
    """`ca.pem` (issuing intermediate, then the corporate root) and `ca.key` (the intermediate's, 0600)."""
    root_key, issuing_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = _ca("corporate root", root_key, "corporate root", root_key, now, lifetime)
    issuing = _ca("mesh issuing CA", issuing_key, "corporate root", root_key, now, lifetime)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.pem", directory / "ca.key"
    cert.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (issuing, root)))
    pem = issuing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return cert, key
