"""When certificates change: leaf renewal with jitter, and root rotation as a pure state machine.

Leaf renewal: a leaf is renewed at `renew_fraction` of its lifetime at the latest, spread over the
`jitter_fraction` of lifetime before that point so a thousand leaves issued together do not all
renew in the same instant. The jitter source is a parameter (`random.random` in production, a
fixed function in tests).

Root rotation, without a failed request (the order is what makes it safe):

    STEADY(old) --begin--> DISTRIBUTING: trust {old, new}, old still signs; wait `distribute`
                           so every sidecar holds the new root before any peer presents it
                --------> REISSUING:    trust {old, new}, new signs; every leaf is reissued now;
                           wait `overlap` so every sidecar has its new leaf
                --------> STEADY(new):  trust {new}; the old root is retired

Every transition is a function of time passed in; nothing here reads a clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.leaf import Leaf

#: How long both roots are trusted before the new one starts signing (SDS delivery to every sidecar).
DEFAULT_DISTRIBUTE = timedelta(seconds=10)
#: How long both roots stay trusted after the new one signs (every reissued leaf delivered).
DEFAULT_OVERLAP = timedelta(seconds=30)


#: Spread renewals over this fraction of a leaf's lifetime before the renewal point.
DEFAULT_JITTER_FRACTION = 0.1


@dataclass(frozen=True, slots=True)
class RenewalPolicy:
    renew_fraction: float = 0.5
    jitter_fraction: float = DEFAULT_JITTER_FRACTION

    def __post_init__(self) -> None:
        if not 0.0 < self.renew_fraction < 1.0:
            raise ValueError(f"renew_fraction must be between 0 and 1 (exclusive), got {self.renew_fraction}")
        if not 0.0 <= self.jitter_fraction < self.renew_fraction:
            raise ValueError(f"jitter_fraction must be in [0, renew_fraction), got {self.jitter_fraction}")

    def renew_at(self, leaf: Leaf, jitter: float) -> datetime:
        """When to renew `leaf`; `jitter` is a draw in [0, 1) (0 = latest point, 1 = earliest)."""
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter draw must be in [0, 1], got {jitter}")
        return leaf.issued_at + leaf.lifetime * (self.renew_fraction - jitter * self.jitter_fraction)


class RotationPhase(enum.StrEnum):
    STEADY = "steady"
    DISTRIBUTING = "distributing"
    REISSUING = "reissuing"


class RotationInProgressError(RuntimeError):
    """A root rotation was asked for while another one is still running."""


@dataclass(frozen=True, slots=True)
class RootState:
    """Which root signs, which roots are trusted, and when the next phase begins."""

    phase: RotationPhase
    signer: CertificateAuthority
    retiring: CertificateAuthority | None = None  # old root, still trusted during a rotation
    incoming: CertificateAuthority | None = None  # new root, trusted but not yet signing
    phase_ends_at: datetime | None = None
    overlap: timedelta = DEFAULT_OVERLAP

    @classmethod
    def steady(cls, root: CertificateAuthority) -> RootState:
        return cls(RotationPhase.STEADY, root)

    @property
    def trusted(self) -> tuple[CertificateAuthority, ...]:
        """Trusted roots, oldest first (stable order: an unchanged set gives identical bytes)."""
        return tuple(ca for ca in (self.retiring, self.signer, self.incoming) if ca is not None)

    def begin(
        self,
        new_root: CertificateAuthority,
        now: datetime,
        *,
        distribute: timedelta = DEFAULT_DISTRIBUTE,
        overlap: timedelta = DEFAULT_OVERLAP,
    ) -> RootState:
        """Start rotating to `new_root`: it is trusted from now on, and signs after `distribute`."""
        if self.phase is not RotationPhase.STEADY:
            raise RotationInProgressError(f"a root rotation is already {self.phase.value}")
        if new_root.key_id == self.signer.key_id:
            raise ValueError("the new root has the same key as the current one")
        return RootState(
            RotationPhase.DISTRIBUTING,
            self.signer,
            incoming=new_root,
            phase_ends_at=now + distribute,
            overlap=overlap,
        )

    def advance(self, now: datetime) -> RootState:
        """The state at `now`: every phase whose end has passed is left (several at once if need be)."""
        state = self
        while state.phase_ends_at is not None and now >= state.phase_ends_at:
            state = state._next_phase()
        return state

    def _next_phase(self) -> RootState:
        assert self.phase_ends_at is not None
        if self.phase is RotationPhase.DISTRIBUTING:
            assert self.incoming is not None
            return replace(
                self,
                phase=RotationPhase.REISSUING,
                signer=self.incoming,
                retiring=self.signer,
                incoming=None,
                phase_ends_at=self.phase_ends_at + self.overlap,
            )
        return RootState.steady(self.signer)


def root_rotation_due(root: CertificateAuthority, now: datetime, *, at_fraction: float = 0.8) -> bool:
    """Whether a root smimesh manages should be rotated: `at_fraction` of its lifetime has passed."""
    lifetime = root.not_after - root.not_before
    return now >= root.not_before + lifetime * at_fraction
