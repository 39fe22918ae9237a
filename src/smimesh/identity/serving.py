"""Serving certificates for the control plane's own HTTPS endpoints (the Kubernetes webhooks).

Owns `issue_serving(ca, dns_names, now=, lifetime=) -> ServingCertificate`: a fresh P-256 key, subject
CN = the first name, DNS SANs (`smimesh-webhook.smimesh-system.svc`, ...), serverAuth only, signed by the
mesh CA, so the `caBundle` of the webhook configurations and CRDs is the mesh root. Like leaves, it lives
in memory; `renew_at(fraction)` says when to replace it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.keys import KeyAlgorithm, generate_key, private_key_pem, signing_hash
from smimesh.identity.spiffe import require_utc

DEFAULT_SERVING_LIFETIME = timedelta(days=7)
_BACKDATE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True, eq=False)
class ServingCertificate:
    dns_names: tuple[str, ...]
    certificate_pem: bytes = field(repr=False)
    private_key_pem: bytes = field(repr=False)
    issued_at: datetime
    not_after: datetime
    serial: int

    def renew_at(self, fraction: float = 0.5) -> datetime:
        return self.issued_at + (self.not_after - self.issued_at) * fraction


def issue_serving(
    ca: CertificateAuthority,
    dns_names: Sequence[str],
    *,
    now: datetime,
    lifetime: timedelta = DEFAULT_SERVING_LIFETIME,
) -> ServingCertificate:
    require_utc(now)
    if not dns_names:
        raise ValueError("a serving certificate needs at least one DNS name")
    key = generate_key(KeyAlgorithm.EC_P256)
    not_after = min(now + lifetime, ca.not_after)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(now - _BACKDATE, ca.not_before))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        .add_extension(ca.authority_key_identifier, critical=False)
    )
    certificate = builder.sign(ca.private_key, signing_hash(ca.private_key))
    return ServingCertificate(
        tuple(dns_names),
        certificate.public_bytes(serialization.Encoding.PEM),
        private_key_pem(key),
        now,
        certificate.not_valid_after_utc,
        certificate.serial_number,
    )
