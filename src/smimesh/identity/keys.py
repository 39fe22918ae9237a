"""Key generation and the signing parameters that go with each key type.

One place decides which key algorithms smimesh issues (ECDSA P-256 by default; RSA-2048 only so
the benchmark can show why not) and which hash signs with a given CA key. PEM encoding of private
keys happens here and nowhere else, in memory only: nothing in this module touches a file.
"""

from __future__ import annotations

import enum

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

#: RSA keys below this size are refused in user-supplied CAs (NIST SP 800-131A).
MIN_RSA_BITS = 2048
#: The curves a user-supplied CA key may use (BoringSSL, inside Envoy, verifies these).
ACCEPTED_CURVES = frozenset({"secp256r1", "secp384r1"})


class KeyAlgorithm(enum.StrEnum):
    EC_P256 = "ec-p256"
    RSA_2048 = "rsa-2048"


def generate_key(algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256) -> PrivateKey:
    if algorithm is KeyAlgorithm.RSA_2048:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def signing_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for a P-384 CA key (match the curve's strength), SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


def private_key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, the form Envoy's `private_key.inline_bytes` accepts."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_der(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo DER: two keys are the same key iff these bytes are equal."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def describe_unusable_key(key: object) -> str | None:
    """Why `key` cannot sign for a CA, or None if it can."""
    if isinstance(key, rsa.RSAPrivateKey):
        return None if key.key_size >= MIN_RSA_BITS else f"RSA key of {key.key_size} bits (minimum 2048)"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return None if key.curve.name in ACCEPTED_CURVES else f"EC key on curve {key.curve.name}"
    return f"{type(key).__name__.lstrip('_')} keys are not supported"
