"""The mesh's certificate authority value, and creating a root for it.

A `CertificateAuthority` holds the signing certificate, its private key (in memory) and what every
issuance reuses (the authority key identifier, the chain sent with each leaf), so issuing a leaf
does no per-call setup. Roots smimesh creates are ECDSA P-256, self-signed, with the trust
domain's SPIFFE id as URI SAN. Loading and checking a user's CA lives in `user_ca.py`.
Time is always a parameter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from smimesh.identity import keys
from smimesh.identity.keys import PrivateKey
from smimesh.identity.spiffe import SCHEME, require_utc, validate_trust_domain

DEFAULT_ROOT_LIFETIME = timedelta(days=365)
#: Start validity a little in the past: a peer whose clock lags ours still accepts the root.
CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True, eq=False)
class CertificateAuthority:
    """The CA that signs leaves: a root, or a user's intermediate with its issuers up to the root.

    Never compared by value; identify it by `key_id` or `fingerprint`. Everything a leaf issuance
    reuses (AKI, the chain sent with each leaf, the root peers trust) is computed once, here.
    """

    certificate: x509.Certificate
    private_key: PrivateKey = field(repr=False)
    certificate_pem: bytes = field(repr=False)
    key_id: bytes  # subject key identifier: leaves name their issuer by it (AKI)
    authority_key_identifier: x509.AuthorityKeyIdentifier = field(repr=False)
    issuers: tuple[x509.Certificate, ...] = field(default=(), repr=False)  # up to the root; () for a root
    chain_pem: bytes = field(default=b"", repr=False)  # sent after each leaf: the signer and intermediates
    anchor_pem: bytes = field(default=b"", repr=False)  # the self-signed root peers trust

    @classmethod
    def of(
        cls,
        certificate: x509.Certificate,
        private_key: PrivateKey,
        issuers: tuple[x509.Certificate, ...] = (),
    ) -> CertificateAuthority:
        try:
            ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:  # a user CA without SKI: use its key's hash (RFC 5280 4.2.1.2)
            ski = x509.SubjectKeyIdentifier.from_public_key(private_key.public_key())
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
        pem = _pem(certificate)
        chain = b"".join(_pem(c) for c in (certificate, *issuers[:-1])) if issuers else b""
        anchor = _pem(issuers[-1]) if issuers else pem
        return cls(certificate, private_key, pem, ski.digest, aki, issuers, chain, anchor)

    @property
    def pem_with_issuers(self) -> bytes:
        """The signing certificate then its issuers up to the root: the form `--ca-cert` takes."""
        return self.certificate_pem + b"".join(_pem(c) for c in self.issuers)

    @property
    def is_root(self) -> bool:
        return not self.issuers

    @property
    def not_before(self) -> datetime:
        return max(c.not_valid_before_utc for c in (self.certificate, *self.issuers))

    @property
    def not_after(self) -> datetime:
        """The end of the whole chain: no leaf may outlive any certificate above it."""
        return min(c.not_valid_after_utc for c in (self.certificate, *self.issuers))

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, hex: what `status` shows and operators compare."""
        return hashlib.sha256(self.certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def create_root(
    *,
    trust_domain: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_ROOT_LIFETIME,
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


def _root_builder(
    key: PrivateKey,
    trust_domain: str,
    *,
    now: datetime,
    lifetime: timedelta,
) -> x509.CertificateBuilder:
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    # Two roots of one trust domain coexist during a rotation: their names must differ even when they
    # are created in the same second, or chain building could pick the wrong one by subject.
    label = f"smimesh root CA {ski.digest[:4].hex()} {now:%Y%m%dT%H%M%SZ} {trust_domain}"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "smimesh"),
            x509.NameAttribute(NameOID.COMMON_NAME, label[:64]),  # X.520 upper bound for a common name
        ]
    )
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
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
