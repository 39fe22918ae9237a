"""Issuing workload leaf certificates (X.509-SVIDs) for SPIFFE ids.

Owns the shape of a leaf: a fresh ECDSA P-256 key per issuance, empty subject with exactly one
critical URI SAN (the SPIFFE id, as the X.509-SVID spec and Istio do), CA:FALSE, keyUsage
digitalSignature, extended key usage serverAuth + clientAuth (every sidecar is both), subject and
authority key identifiers, a random serial, and a short lifetime never outliving its root.

A `Leaf` lives in memory only: its key goes to the sidecar over SDS. There is deliberately no
function anywhere in smimesh that writes a leaf key to a file. `derived.py` passes a key and serial
of its own (`Reproducible`) to get the same certificate bytes on every control-plane replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.errors import CaMaterialError
from smimesh.identity.keys import (
    KeyAlgorithm,
    PrivateKey,
    PublicKey,
    generate_key,
    private_key_pem,
    signing_hash,
)
from smimesh.identity.spiffe import SpiffeId, require_utc

DEFAULT_LEAF_LIFETIME = timedelta(hours=24)
MIN_LEAF_LIFETIME = timedelta(seconds=1)
#: Backdate notBefore a little so a peer whose clock lags slightly does not see "not yet valid".
LEAF_BACKDATE = timedelta(seconds=10)

_EMPTY_SUBJECT = x509.Name([])
_BASIC = x509.BasicConstraints(ca=False, path_length=None)
_EKU = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])


def _key_usage(key_encipherment: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


_USAGE_BY_ALGORITHM = {
    KeyAlgorithm.EC_P256: _key_usage(key_encipherment=False),
    KeyAlgorithm.RSA_2048: _key_usage(key_encipherment=True),  # RSA key transport, for comparison only
}


@dataclass(frozen=True, slots=True)
class Reproducible:
    """A leaf's key and serial chosen by the caller (derived, not random): see `issue_leaf`."""

    key: PrivateKey = field(repr=False)
    serial: int


@dataclass(frozen=True, slots=True, eq=False)
class Leaf:
    """One issued leaf: certificate and key as PEM (for SDS), when it was issued, by which root."""

    identity: SpiffeId
    certificate_pem: bytes = field(repr=False)
    private_key_pem: bytes = field(repr=False)
    issued_at: datetime
    not_after: datetime
    serial: int
    issuer_key_id: bytes  # the issuing CA's subject key identifier
    chain_pem: bytes = field(default=b"", repr=False)  # intermediates sent after the leaf (none for a root)

    @property
    def certificate_chain_pem(self) -> bytes:
        """What the sidecar presents: the leaf, then any intermediates (never the root: peers hold it)."""
        return self.certificate_pem + self.chain_pem

    @property
    def lifetime(self) -> timedelta:
        return self.not_after - self.issued_at

    def is_expired(self, now: datetime) -> bool:
        return now >= self.not_after

    def certificate(self) -> x509.Certificate:
        """The parsed certificate (parsing costs; callers that only serve PEM never need it)."""
        return x509.load_pem_x509_certificate(self.certificate_pem)


def issue_leaf(
    ca: CertificateAuthority,
    identity: SpiffeId,
    *,
    now: datetime,
    lifetime: timedelta = DEFAULT_LEAF_LIFETIME,
    algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256,
    reproducible: Reproducible | None = None,
) -> Leaf:
    """Issue a leaf for `identity` signed by `ca`, valid from `now` for `lifetime` (capped at the root's end).

    With `reproducible`, its key and serial are used and the signature is deterministic (RFC 6979 for
    an ECDSA CA; RSA PKCS#1 v1.5 is deterministic anyway): the same inputs give the same bytes.
    Raises ValueError for a lifetime under one second (X.509 times have one-second resolution), and
    CaMaterialError once the root has expired.
    """
    require_utc(now)
    if lifetime < MIN_LEAF_LIFETIME:
        raise ValueError(f"leaf lifetime must be at least {MIN_LEAF_LIFETIME}, got {lifetime}")
    if now + MIN_LEAF_LIFETIME > ca.not_after:
        raise CaMaterialError(
            f"the root CA expired at {ca.not_after:%Y-%m-%d %H:%M:%S} UTC: no leaf issued",
            hint="rotate to a new root (or supply a current --ca-cert/--ca-key)",
        )
    key = reproducible.key if reproducible else generate_key(algorithm)
    serial = reproducible.serial if reproducible else x509.random_serial_number()
    builder = _leaf_builder(ca, identity, key.public_key(), algorithm, now=now, lifetime=lifetime)
    certificate = _sign(builder.serial_number(serial), ca, deterministic=reproducible is not None)
    return Leaf(
        identity=identity,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
        private_key_pem=private_key_pem(key),
        issued_at=now,
        not_after=certificate.not_valid_after_utc,
        serial=certificate.serial_number,
        issuer_key_id=ca.key_id,
        chain_pem=ca.chain_pem,
    )


def _sign(
    builder: x509.CertificateBuilder, ca: CertificateAuthority, *, deterministic: bool
) -> x509.Certificate:
    if deterministic and isinstance(ca.private_key, ec.EllipticCurvePrivateKey):
        return builder.sign(ca.private_key, signing_hash(ca.private_key), ecdsa_deterministic=True)
    return builder.sign(ca.private_key, signing_hash(ca.private_key))


def _leaf_builder(
    ca: CertificateAuthority,
    identity: SpiffeId,
    public_key: PublicKey,
    algorithm: KeyAlgorithm,
    *,
    now: datetime,
    lifetime: timedelta,
) -> x509.CertificateBuilder:
    san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity.uri)])
    return (
        x509.CertificateBuilder()
        .subject_name(_EMPTY_SUBJECT)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .not_valid_before(max(now - LEAF_BACKDATE, ca.not_before))
        .not_valid_after(min(now + lifetime, ca.not_after))
        .add_extension(_BASIC, critical=True)
        .add_extension(_USAGE_BY_ALGORITHM[algorithm], critical=True)
        .add_extension(_EKU, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(ca.authority_key_identifier, critical=False)
        .add_extension(san, critical=True)  # critical because the subject is empty (RFC 5280 4.2.1.6)
    )
