"""What a sidecar needs for mTLS: its identity's certificate bundle and the trust bundle.

`TrustBundle` is the set of roots a sidecar accepts peers from: one root normally, two during a
root rotation's overlap (old and new), in a stable order so an unchanged set yields the same PEM
bytes (and so the same SDS version: no push). `IdentityBundle` pairs one identity's current leaf
with the trust bundle; it is what the SDS generator turns into Envoy `Secret`s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.leaf import Leaf
from smimesh.identity.spiffe import SpiffeId, validate_trust_domain


@dataclass(frozen=True, slots=True)
class TrustedRoot:
    """A signing CA as peers see it: the root certificate they trust, the signer's key id, the chain's
    expiry and the signer's fingerprint (never a private key)."""

    certificate_pem: bytes
    key_id: bytes
    not_after: datetime
    fingerprint: str

    @classmethod
    def of(cls, ca: CertificateAuthority) -> TrustedRoot:
        """What peers trust for `ca`: its self-signed root (itself, or the top of a user's chain)."""
        return cls(ca.anchor_pem, ca.key_id, ca.not_after, ca.fingerprint)


@dataclass(frozen=True, slots=True)
class TrustBundle:
    """The roots of one trust domain that sidecars accept, oldest first."""

    trust_domain: str
    roots: tuple[TrustedRoot, ...]

    def __post_init__(self) -> None:
        validate_trust_domain(self.trust_domain)
        if not self.roots:
            raise ValueError("a trust bundle needs at least one root")

    @classmethod
    def of(cls, trust_domain: str, authorities: Iterable[CertificateAuthority]) -> TrustBundle:
        return cls(trust_domain, tuple(TrustedRoot.of(ca) for ca in authorities))

    @property
    def pem(self) -> bytes:
        """Every root's PEM, once each, concatenated: the `trusted_ca` of Envoy's validation context.

        (Two intermediates of one corporate root share their root: it is listed once.)"""
        return b"".join(dict.fromkeys(root.certificate_pem for root in self.roots))

    @property
    def key_ids(self) -> frozenset[bytes]:
        return frozenset(root.key_id for root in self.roots)

    def trusts(self, leaf: Leaf) -> bool:
        """Whether one of these roots issued `leaf` (by key id; verifying signatures is Envoy's job)."""
        return leaf.issuer_key_id in self.key_ids


@dataclass(frozen=True, slots=True)
class IdentityBundle:
    """One identity's current leaf plus the trust bundle, ready to become SDS secrets."""

    leaf: Leaf
    trust: TrustBundle

    @property
    def identity(self) -> SpiffeId:
        return self.leaf.identity

    @property
    def certificate_chain_pem(self) -> bytes:
        """The chain a sidecar presents: the leaf, then a user CA's intermediates (never the root)."""
        return self.leaf.certificate_chain_pem
