"""Leaves that every control-plane replica derives alike from the shared CA (issue 12, high availability).

Owns `DerivedLeaves(renew_fraction)`, the `CertificateBook`'s issuer in a cluster:
`issue(ca, identity, now=, lifetime=) -> (Leaf, renew_at)`. A sidecar that moves from one replica to
another then gets byte-identical SDS secrets, as it gets identical listeners and clusters.

Time is cut, per identity, into renewal windows of `lifetime x renew_fraction` whole seconds, shifted
by an offset derived from the identity (renewals of many identities spread over the window, as the
random jitter spreads them elsewhere). The leaf of a window is issued at the window's start. Its
private key and serial come from HKDF-SHA256 keyed with the CA's private key over (identity, window
start, lifetime, CA key id), and the CA signs deterministically (RFC 6979). So the same CA, identity
and window give the same bytes on every replica, with no coordination, no write to the API server and
no private key stored anywhere but memory. Renewal is the next window's leaf, `renew_fraction` into
the current one's life, exactly as the random book renews.

Key safety: HKDF is one-way: a leaf's key reveals neither the CA key nor any other leaf's key. Only a
holder of the CA key can derive a leaf key, and such a holder can already issue any leaf. Replicas
whose clocks differ by d serve different (both valid) leaves during the d seconds around a window's
end. Why not have the leader issue leaves into Secrets: docs/kubernetes.md, "High availability".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.leaf import Leaf, Reproducible, issue_leaf
from smimesh.identity.spiffe import SpiffeId, require_utc

_SALT = b"smimesh derived leaf v1"
#: The order of P-256 (FIPS 186-5, D.1.2.3): a derived scalar must lie in [1, n - 1].
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True, slots=True)
class Window:
    """One identity's renewal window: its leaf is issued at `start` and renewed at `end`."""

    start: datetime
    end: datetime


def window_of(identity: SpiffeId, now: datetime, period_s: int) -> Window:
    """The window holding `now` for `identity` (whole seconds, offset by a hash of the identity)."""
    offset = int.from_bytes(hashlib.sha256(identity.uri.encode()).digest()[:8], "big") % period_s
    seconds = int(now.timestamp())
    start = (seconds - offset) // period_s * period_s + offset
    return Window(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(start + period_s, UTC))


def _derive(ca: CertificateAuthority, info: bytes, length: int) -> bytes:
    secret = ca.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=info).derive(secret)


def reproducible_material(ca: CertificateAuthority, identity: SpiffeId, context: bytes) -> Reproducible:
    """The key and serial of `identity`'s leaf in `context` (window and lifetime), from `ca`'s key.

    The scalar takes 64 bits more than the order and is reduced (FIPS 186-5 A.2.1), so its bias is
    negligible; the serial is positive and at most 159 bits (RFC 5280 4.1.2.2)."""
    info = b"\0".join((identity.uri.encode(), context, ca.key_id))
    scalar = int.from_bytes(_derive(ca, b"key\0" + info, 40), "big") % (_P256_ORDER - 1) + 1
    serial = int.from_bytes(_derive(ca, b"serial\0" + info, 20), "big") >> 1 or 1
    return Reproducible(ec.derive_private_key(scalar, ec.SECP256R1()), serial)


@dataclass(frozen=True, slots=True)
class DerivedLeaves:
    """See the module docstring."""

    renew_fraction: float = 0.5

    def issue(
        self, ca: CertificateAuthority, identity: SpiffeId, *, now: datetime, lifetime: timedelta
    ) -> tuple[Leaf, datetime]:
        require_utc(now)
        lifetime_s = max(1, int(lifetime.total_seconds()))
        window = window_of(identity, now, max(1, int(lifetime_s * self.renew_fraction)))
        context = f"{int(window.start.timestamp())}\0{lifetime_s}".encode()
        material = reproducible_material(ca, identity, context)
        leaf = issue_leaf(
            ca, identity, now=window.start, lifetime=timedelta(seconds=lifetime_s), reproducible=material
        )
        return leaf, window.end
