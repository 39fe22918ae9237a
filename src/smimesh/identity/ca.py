"""The mesh's root certificate authority: create one, or load and check one a user supplies.

A `CertificateAuthority` holds the root certificate, its private key (in memory) and what every
issuance reuses (the authority key identifier), so issuing a leaf does no per-call setup. Roots
smimesh creates are ECDSA P-256, self-signed, with the trust domain's SPIFFE id as URI SAN.
A user's root (`--ca-cert/--ca-key`) is checked: PEM readable, a CA allowed to sign certificates,
self-signed, key matching the certificate, currently valid. Time is always a parameter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from smimesh.identity import keys
from smimesh.identity.errors import CaMaterialError
from smimesh.identity.keys import PrivateKey
from smimesh.identity.spiffe import SCHEME, require_utc, validate_trust_domain

DEFAULT_ROOT_LIFETIME = timedelta(days=365)
#: Start validity a little in the past: a peer whose clock lags ours still accepts the root.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True, eq=False)
class CertificateAuthority:
    """A root that signs leaves. Never compared by value; identify it by `key_id` or `fingerprint`."""

    certificate: x509.Certificate
    private_key: PrivateKey = field(repr=False)
    certificate_pem: bytes = field(repr=False)
    key_id: bytes  # subject key identifier: leaves name their issuer by it (AKI)
    authority_key_identifier: x509.AuthorityKeyIdentifier = field(repr=False)

    @classmethod
    def of(cls, certificate: x509.Certificate, private_key: PrivateKey) -> CertificateAuthority:
        try:
            ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:  # a user root without SKI: use its key's hash (RFC 5280 4.2.1.2)
            ski = x509.SubjectKeyIdentifier.from_public_key(private_key.public_key())
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        return cls(certificate, private_key, pem, ski.digest, aki)

    @property
    def not_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, hex: what `status` shows and operators compare."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def create_root(
    *, trust_domain: str, now: datetime, lifetime: timedelta = DEFAULT_ROOT_LIFETIME,
    algorithm: keys.KeyAlgorithm = keys.KeyAlgorithm.EC_P256,
) -> CertificateAuthority:
    """A new self-signed root for `trust_domain`, valid from `now` for `lifetime`.

    ECDSA P-256 always, in smimesh; `algorithm` exists so the benchmark can compare RSA-2048.
    """
    validate_trust_domain(trust_domain)
    require_utc(now)
    key = keys.generate_key(algorithm)
    builder = _root_builder(key, trust_domain, now=now, lifetime=lifetime)
    return CertificateAuthority.of(builder.sign(key, keys.signing_hash(key)), key)


def _root_builder(key: PrivateKey, trust_domain: str, *, now: datetime, lifetime: timedelta,
                  ) -> x509.CertificateBuilder:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    # Two roots of one trust domain coexist during a rotation: their names must differ even when they
    # are created in the same second, or chain building could pick the wrong one by subject.
    label = f"smimesh root CA {ski.digest[:4].hex()} {now:%Y%m%dT%H%M%SZ} {trust_domain}"
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smimesh"),
        x509.NameAttribute(NameOID.COMMON_NAME, label[:64]),  # X.520 upper bound for a common name
    ])
    trust_domain_id = x509.UniformResourceIdentifier(SCHEME + trust_domain)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW_ALLOWANCE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.SubjectAlternativeName([trust_domain_id]), critical=False)
    )


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
)


def load_root(cert_pem: bytes, key_pem: bytes, *, now: datetime, source: str = "") -> CertificateAuthority:
    """Load a root from PEM bytes and check it can serve as the mesh CA; CaMaterialError if not.

    `source` names where the bytes came from (e.g. "--ca-cert ca.pem / --ca-key ca.key") for messages.
    """
    where = f" ({source})" if source else ""
    certificate = _parse_certificate(cert_pem, where)
    key = _parse_key(key_pem, where)
    _check_is_signing_ca(certificate, where)
    _check_key_matches(certificate, key, where)
    _check_valid_at(certificate, now, where)
    return CertificateAuthority.of(certificate, key)


def _parse_certificate(pem: bytes, where: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CaMaterialError(f"CA certificate{where} is not a PEM X.509 certificate: {exc}",
                              hint="pass the file that starts with -----BEGIN CERTIFICATE-----") from None


def _parse_key(pem: bytes, where: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise CaMaterialError(f"CA private key{where} is encrypted",
                              hint="decrypt it first: openssl pkey -in KEY -out plain.key") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CaMaterialError(f"CA private key{where} is not a PEM private key: {exc}",
                              hint="pass the file that starts with -----BEGIN PRIVATE KEY-----") from None
    problem = keys.describe_unusable_key(key)
    if problem:
        raise CaMaterialError(f"CA private key{where} cannot be used: {problem}",
                              hint="use an ECDSA P-256/P-384 or RSA >= 2048 key")
    return key  # type: ignore[return-value]  # describe_unusable_key accepted it: EC or RSA


def _check_is_signing_ca(certificate: x509.Certificate, where: str) -> None:
    hint = "pass a CA certificate (basicConstraints CA:TRUE, keyUsage keyCertSign), not a leaf"
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CaMaterialError(f"CA certificate{where} has no basicConstraints: not a CA", hint=hint) from None
    if not constraints.ca:
        raise CaMaterialError(f"CA certificate{where} has CA:FALSE: it is a leaf certificate", hint=hint)
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise CaMaterialError(f"CA certificate{where} may not sign certificates (no keyCertSign)",
                                  hint=hint)
    except x509.ExtensionNotFound:
        pass  # RFC 5280 allows a CA without keyUsage: then every usage is allowed
    if certificate.issuer != certificate.subject:
        issuer = certificate.issuer.rfc4514_string()
        raise CaMaterialError(f"CA certificate{where} is not self-signed (issuer {issuer})",
                              hint="smimesh needs a root CA; intermediate CAs are not supported yet")


def _check_key_matches(certificate: x509.Certificate, key: PrivateKey, where: str) -> None:
    if keys.public_key_der(key.public_key()) != keys.public_key_der(certificate.public_key()):  # type: ignore[arg-type]
        raise CaMaterialError(f"CA private key{where} does not belong to the CA certificate",
                              hint="pass the key that was used to create this certificate")


def _check_valid_at(certificate: x509.Certificate, now: datetime, where: str) -> None:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now >= end:
        raise CaMaterialError(f"CA certificate{where} expired at {end:%Y-%m-%d %H:%M:%S} UTC",
                              hint="supply a current CA, or drop --ca-cert/--ca-key and smimesh creates one")
    if now < start:
        raise CaMaterialError(f"CA certificate{where} is not valid before {start:%Y-%m-%d %H:%M:%S} UTC",
                              hint="check this machine's clock, or the certificate's notBefore")
