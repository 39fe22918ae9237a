"""Loading a CA the user supplies (`--ca-cert/--ca-key`) and checking it can sign mesh leaves.

`--ca-cert` holds the signing CA certificate first, then (for an intermediate) every issuer up to
and including the self-signed root. Checked, each failure with the file and a fix: PEM readable;
every certificate a CA allowed to sign certificates; the key unencrypted, of a supported type, and
the signer's own; each certificate signed by the next; the last one self-signed; all currently
valid. Third-party parsing errors are wrapped into `CaMaterialError` here.
"""

from __future__ import annotations

from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from smimesh.identity import keys
from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.errors import CaMaterialError
from smimesh.identity.keys import PrivateKey
from smimesh.identity.spiffe import require_utc

_CA_HINT = "pass a CA certificate (basicConstraints CA:TRUE, keyUsage keyCertSign), not a leaf"


def load_root(cert_pem: bytes, key_pem: bytes, *, now: datetime, source: str = "") -> CertificateAuthority:
    """Load a CA (a root, or an intermediate followed by its chain) and check it; CaMaterialError if unusable.

    `source` names where the bytes came from (e.g. "ca.pem, ca.key") for messages.
    """
    require_utc(now)
    where = f" ({source})" if source else ""
    chain = _parse_certificates(cert_pem, where)
    key = _parse_key(key_pem, where)
    for position, certificate in enumerate(chain):
        label = _label(position, chain, where)
        _check_is_signing_ca(certificate, label)
        _check_valid_at(certificate, now, label)
    _check_key_matches(chain[0], key, where)
    _check_chain(chain, where)
    return CertificateAuthority.of(chain[0], key, issuers=tuple(chain[1:]))


def _label(position: int, chain: list[x509.Certificate], where: str) -> str:
    if len(chain) == 1:
        return f"CA certificate{where}"
    subject = chain[position].subject.rfc4514_string()
    return f"certificate {position + 1} of {len(chain)} ({subject}){where}"


def _parse_certificates(pem: bytes, where: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CaMaterialError(
            f"CA certificate{where} is not a PEM X.509 certificate: {exc}",
            hint="pass the file that starts with -----BEGIN CERTIFICATE-----",
        ) from None


def _parse_key(pem: bytes, where: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise CaMaterialError(
            f"CA private key{where} is encrypted",
            hint="decrypt it first: openssl pkey -in KEY -out plain.key",
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CaMaterialError(
            f"CA private key{where} is not a PEM private key: {exc}",
            hint="pass the file that starts with -----BEGIN PRIVATE KEY-----",
        ) from None
    problem = keys.describe_unusable_key(key)
    if problem:
        raise CaMaterialError(
            f"CA private key{where} cannot be used: {problem}",
            hint="use an ECDSA P-256/P-384 or RSA >= 2048 key",
        )
    return key  # type: ignore[return-value]  # describe_unusable_key accepted it: EC or RSA


def _check_is_signing_ca(certificate: x509.Certificate, label: str) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CaMaterialError(f"{label} has no basicConstraints: not a CA", hint=_CA_HINT) from None
    if not constraints.ca:
        raise CaMaterialError(f"{label} has CA:FALSE: it is a leaf certificate", hint=_CA_HINT)
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return  # RFC 5280 allows a CA without keyUsage: then every usage is allowed
    if not usage.key_cert_sign:
        raise CaMaterialError(f"{label} may not sign certificates (no keyCertSign)", hint=_CA_HINT)


def _check_key_matches(certificate: x509.Certificate, key: PrivateKey, where: str) -> None:
    if keys.public_key_der(key.public_key()) != keys.public_key_der(certificate.public_key()):  # type: ignore[arg-type]
        raise CaMaterialError(
            f"CA private key{where} does not belong to the (first) CA certificate",
            hint="pass the key of the CA that signs, and put that CA first in --ca-cert",
        )


def _check_chain(chain: list[x509.Certificate], where: str) -> None:
    """Each certificate is signed by the next one, and the last one by itself (the root)."""
    for position, (child, parent) in enumerate(zip(chain, [*chain[1:], chain[-1]], strict=True)):
        if not _directly_issued_by(child, parent):
            raise _chain_error(position, chain, where)


def _directly_issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _chain_error(position: int, chain: list[x509.Certificate], where: str) -> CaMaterialError:
    issuer = chain[position].issuer.rfc4514_string()
    if position == len(chain) - 1:
        return CaMaterialError(
            f"{_label(position, chain, where)} is not self-signed: the chain stops below its root ({issuer})",
            hint="append the issuing CA certificates, up to the self-signed root, to --ca-cert",
        )
    return CaMaterialError(
        f"{_label(position, chain, where)} is not signed by the certificate after it (its issuer: {issuer})",
        hint="order --ca-cert from the signing CA up to the root, each followed by its issuer",
    )


def _check_valid_at(certificate: x509.Certificate, now: datetime, label: str) -> None:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now >= end:
        raise CaMaterialError(
            f"{label} expired at {end:%Y-%m-%d %H:%M:%S} UTC",
            hint="supply a current CA, or drop --ca-cert/--ca-key and smimesh creates one",
        )
    if now < start:
        raise CaMaterialError(
            f"{label} is not valid before {start:%Y-%m-%d %H:%M:%S} UTC",
            hint="check this machine's clock, or the certificate's notBefore",
        )
