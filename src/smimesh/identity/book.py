"""The certificate book: every identity's current leaf, kept fresh as time passes.

The runtime owns one `CertificateBook`, tells it which identities the mesh needs and what time it
is, and gets back what changed (so it can push SDS secrets to exactly the sidecars concerned).
The book issues leaves for new identities, drops unused ones, renews leaves at their scheduled
time, reissues every leaf when the signing root changes, and follows the root rotation state
machine. It reads no clock and does no I/O; randomness (jitter, keys) is its only side input.

Leaves are random (a fresh key each, renewed at a jittered point) unless the book is given a
`DerivedLeaves` (derived.py): then every replica holding the same CA issues the same bytes.

One owner, no locking: the runtime's identity task calls it. A `sync` that reissues many leaves
costs about 0.2 ms of CPU per leaf (bench/bench_identity.py), so a caller on an event loop with
thousands of identities may want to run it in an executor.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smimesh.identity.bundle import IdentityBundle, TrustBundle
from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.derived import DerivedLeaves
from smimesh.identity.leaf import DEFAULT_LEAF_LIFETIME, Leaf, issue_leaf
from smimesh.identity.rotation import (
    DEFAULT_DISTRIBUTE,
    DEFAULT_JITTER_FRACTION,
    DEFAULT_OVERLAP,
    RenewalPolicy,
    RootState,
)
from smimesh.identity.spiffe import SpiffeId, require_utc, validate_trust_domain
from smimesh.settings import Settings


@dataclass(frozen=True, slots=True)
class BookChanges:
    """What one `sync` changed: identities with a new leaf, and whether the trust bundle changed."""

    reissued: frozenset[SpiffeId] = frozenset()
    removed: frozenset[SpiffeId] = frozenset()
    trust_bundle_changed: bool = False

    def __bool__(self) -> bool:
        return bool(self.reissued or self.removed or self.trust_bundle_changed)


@dataclass(frozen=True, slots=True)
class _Entry:
    leaf: Leaf
    renew_at: datetime


class CertificateBook:
    """Leaves per identity plus the root state; advanced only by `sync(identities, now)`."""

    def __init__(
        self,
        root: CertificateAuthority | RootState,
        *,
        trust_domain: str,
        leaf_lifetime: timedelta = DEFAULT_LEAF_LIFETIME,
        policy: RenewalPolicy | None = None,
        jitter: Callable[[], float] = random.random,
        derived: DerivedLeaves | None = None,
    ) -> None:
        self.trust_domain = validate_trust_domain(trust_domain)
        self.root_state = root if isinstance(root, RootState) else RootState.steady(root)
        self.leaf_lifetime = leaf_lifetime
        self.policy = policy or RenewalPolicy()
        self._jitter = jitter
        self.derived = derived
        self._entries: dict[SpiffeId, _Entry] = {}
        self._trust = TrustBundle.of(trust_domain, self.root_state.trusted)
        self.version = 0  # bumped by every sync that changes a leaf or the trust: a reader's cache key

    @classmethod
    def from_settings(
        cls, root: CertificateAuthority, settings: Settings, *, derived: bool = False
    ) -> CertificateBook:
        """A book with the trust domain, leaf lifetime and renewal point of `settings` (derived
        leaves, renewed at that point, if `derived`)."""
        fraction = settings.leaf_renew_fraction
        policy = RenewalPolicy(fraction, min(DEFAULT_JITTER_FRACTION, fraction / 2))
        return cls(
            root,
            trust_domain=settings.trust_domain,
            policy=policy,
            leaf_lifetime=timedelta(seconds=settings.leaf_lifetime_s),
            derived=DerivedLeaves(fraction) if derived else None,
        )

    @property
    def trust_bundle(self) -> TrustBundle:
        return self._trust

    @property
    def identities(self) -> frozenset[SpiffeId]:
        return frozenset(self._entries)

    def __contains__(self, identity: object) -> bool:
        """Whether the book holds a leaf for `identity` (no copy of the set: a view asks per node)."""
        return identity in self._entries

    def bundle(self, identity: SpiffeId) -> IdentityBundle:
        """The identity's current leaf and trust bundle; KeyError if `sync` was never told about it."""
        return IdentityBundle(self._entries[identity].leaf, self._trust)

    def renew_at(self, identity: SpiffeId) -> datetime:
        return self._entries[identity].renew_at

    def begin_root_rotation(
        self,
        new_root: CertificateAuthority,
        now: datetime,
        *,
        distribute: timedelta = DEFAULT_DISTRIBUTE,
        overlap: timedelta = DEFAULT_OVERLAP,
    ) -> BookChanges:
        """Start a root rotation (see rotation.py); the new root is trusted at once."""
        self.root_state = self.root_state.begin(new_root, now, distribute=distribute, overlap=overlap)
        self.version += 1
        return self.sync(self._entries, now)

    def sync(self, identities: Iterable[SpiffeId], now: datetime) -> BookChanges:
        """Make the book hold a fresh leaf for exactly `identities` at time `now`; report what changed."""
        require_utc(now)
        wanted = frozenset(identities)
        foreign = [i for i in wanted if i.trust_domain != self.trust_domain]
        if foreign:
            raise ValueError(f"identity {foreign[0]} is outside trust domain {self.trust_domain}")
        trust_changed = self._advance_root(now)
        removed = frozenset(self._entries) - wanted
        for identity in removed:
            del self._entries[identity]
        due = frozenset(i for i in wanted if self._needs_leaf(i, now))
        for identity in due:
            self._entries[identity] = self._issue(identity, now)
        changes = BookChanges(due, removed, trust_changed)
        if changes:
            self.version += 1
        return changes

    def next_wakeup(self) -> datetime | None:
        """The earliest time a `sync` would change something without the identity set changing."""
        times = [entry.renew_at for entry in self._entries.values()]
        if self.root_state.phase_ends_at is not None:
            times.append(self.root_state.phase_ends_at)
        return min(times, default=None)

    def _advance_root(self, now: datetime) -> bool:
        self.root_state = self.root_state.advance(now)
        trust = TrustBundle.of(self.trust_domain, self.root_state.trusted)
        changed = trust != self._trust
        self._trust = trust
        return changed

    def _needs_leaf(self, identity: SpiffeId, now: datetime) -> bool:
        entry = self._entries.get(identity)
        if entry is None:
            return True
        return now >= entry.renew_at or entry.leaf.issuer_key_id != self.root_state.signer.key_id

    def _issue(self, identity: SpiffeId, now: datetime) -> _Entry:
        if self.derived is not None:
            signer, lifetime = self.root_state.signer, self.leaf_lifetime
            return _Entry(*self.derived.issue(signer, identity, now=now, lifetime=lifetime))
        leaf = issue_leaf(self.root_state.signer, identity, now=now, lifetime=self.leaf_lifetime)
        return _Entry(leaf, self.policy.renew_at(leaf, self._jitter()))
