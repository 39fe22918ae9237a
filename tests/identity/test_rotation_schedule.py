"""Renewal with jitter, the root rotation state machine, and the certificate book over virtual time."""

from __future__ import annotations

import itertools
import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smimesh.identity import (
    CertificateBook,
    RenewalPolicy,
    RootState,
    RotationInProgressError,
    RotationPhase,
    SpiffeId,
    create_root,
    issue_leaf,
)
from smimesh.settings import Settings
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN

S = timedelta(seconds=1)
# Hypothesis tests cannot take function-scoped fixtures: module-level values instead.
_ROOT = create_root(trust_domain=TRUST_DOMAIN, now=NOW)
_ID = SpiffeId(TRUST_DOMAIN, "ns", "sa")


def test_renews_at_half_life_without_jitter(root, bookstore) -> None:
    leaf = issue_leaf(root, bookstore, now=NOW, lifetime=timedelta(hours=24))
    assert RenewalPolicy(0.5, 0.1).renew_at(leaf, 0.0) == NOW + timedelta(hours=12)
    assert RenewalPolicy(0.5, 0.1).renew_at(leaf, 1.0) == NOW + timedelta(hours=12) - timedelta(hours=2.4)


@given(st.floats(0.0, 1.0), st.floats(0.05, 0.95))
def test_renewal_is_before_expiry_and_never_later_than_the_fraction(draw: float, fraction: float) -> None:
    policy = RenewalPolicy(fraction, fraction / 2)
    leaf = issue_leaf(_ROOT, _ID, now=NOW, lifetime=timedelta(seconds=60))
    at = policy.renew_at(leaf, draw)
    assert NOW < at <= NOW + leaf.lifetime * fraction < leaf.not_after


def test_jitter_spreads_a_thousand_renewals(root, bookstore) -> None:
    leaf = issue_leaf(root, bookstore, now=NOW)
    rng = random.Random(7)
    times = {RenewalPolicy().renew_at(leaf, rng.random()) for _ in range(1000)}
    assert len(times) > 990
    assert max(times) - min(times) > timedelta(hours=2)


@pytest.mark.parametrize(("fraction", "jitter"), [(0.0, 0.0), (1.0, 0.1), (0.5, 0.5), (0.5, -0.1)])
def test_policy_rejects_impossible_settings(fraction: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        RenewalPolicy(fraction, jitter)


def test_root_rotation_phases(root, other_root) -> None:
    state = RootState.steady(root)
    assert state.trusted == (root,) and state.signer is root
    rotating = state.begin(other_root, NOW, distribute=10 * S, overlap=30 * S)
    assert rotating.phase is RotationPhase.DISTRIBUTING
    assert rotating.signer is root and rotating.trusted == (root, other_root)
    assert rotating.advance(NOW + 9 * S) is rotating
    reissuing = rotating.advance(NOW + 10 * S)
    assert reissuing.phase is RotationPhase.REISSUING
    assert reissuing.signer is other_root and reissuing.trusted == (root, other_root)
    assert reissuing.phase_ends_at == NOW + 40 * S
    done = reissuing.advance(NOW + 40 * S)
    assert done.phase is RotationPhase.STEADY and done.trusted == (other_root,) and done.signer is other_root


def test_root_rotation_can_jump_several_phases(root, other_root) -> None:
    state = RootState.steady(root).begin(other_root, NOW).advance(NOW + timedelta(hours=1))
    assert state == RootState.steady(other_root)


def test_only_one_rotation_at_a_time(root, other_root) -> None:
    rotating = RootState.steady(root).begin(other_root, NOW)
    with pytest.raises(RotationInProgressError):
        rotating.begin(create_root(trust_domain=TRUST_DOMAIN, now=NOW), NOW)
    with pytest.raises(ValueError, match="same key"):
        RootState.steady(root).begin(root, NOW)


def _book(root, *, jitter=lambda: 0.0, lifetime=timedelta(seconds=60)) -> CertificateBook:
    return CertificateBook(root, trust_domain=TRUST_DOMAIN, leaf_lifetime=lifetime, jitter=jitter)


def test_book_issues_renews_and_drops(root, bookstore, bookbuyer) -> None:
    book = _book(root)
    first = book.sync([bookstore, bookbuyer], NOW)
    assert first.reissued == {bookstore, bookbuyer} and not first.removed
    assert not book.sync([bookstore, bookbuyer], NOW + 29 * S)
    assert book.next_wakeup() == NOW + 30 * S
    renewed = book.sync([bookstore], NOW + 30 * S)
    assert renewed.reissued == {bookstore} and renewed.removed == {bookbuyer}
    assert book.bundle(bookstore).leaf.issued_at == NOW + 30 * S
    with pytest.raises(KeyError):
        book.bundle(bookbuyer)


def test_book_from_settings(root, bookstore) -> None:
    settings = Settings(trust_domain=TRUST_DOMAIN, leaf_lifetime_s=10.0, leaf_renew_fraction=0.05)
    book = CertificateBook.from_settings(root, settings)
    book.sync([bookstore], NOW)
    leaf = book.bundle(bookstore).leaf
    assert leaf.not_after == NOW + 10 * S
    assert NOW + 0.25 * S <= book.renew_at(bookstore) <= NOW + 0.5 * S


def test_book_uses_the_injected_jitter(root, bookstore) -> None:
    draws = itertools.cycle([1.0])
    book = _book(root, jitter=lambda: next(draws))
    book.sync([bookstore], NOW)
    assert book.renew_at(bookstore) == NOW + 24 * S  # 0.5 - 1.0 * 0.1 of 60 s


def test_book_refuses_identities_of_another_trust_domain(root) -> None:
    with pytest.raises(ValueError, match="outside trust domain"):
        _book(root).sync([SpiffeId("other.domain", "a", "b")], NOW)


def test_book_root_rotation_never_leaves_an_untrusted_leaf(root, other_root, bookstore, bookbuyer) -> None:
    book = _book(root, lifetime=timedelta(hours=1))
    ids = [bookstore, bookbuyer]
    book.sync(ids, NOW)
    started = book.begin_root_rotation(other_root, NOW + S, distribute=10 * S, overlap=30 * S)
    assert started.trust_bundle_changed and not started.reissued
    assert book.trust_bundle.key_ids == {root.key_id, other_root.key_id}
    for second in range(2, 60):
        changes = book.sync(ids, NOW + second * S)
        assert all(book.trust_bundle.trusts(book.bundle(i).leaf) for i in ids), f"at {second}s"
        if second == 11:
            assert changes.reissued == set(ids) and not changes.trust_bundle_changed
        if second == 41:
            assert changes.trust_bundle_changed and not changes.reissued
    assert book.trust_bundle.key_ids == {other_root.key_id}
    assert {book.bundle(i).leaf.issuer_key_id for i in ids} == {other_root.key_id}


def test_book_wakes_up_for_the_next_root_phase(root, other_root, bookstore) -> None:
    book = _book(root, lifetime=timedelta(hours=1))
    book.sync([bookstore], NOW)
    book.begin_root_rotation(other_root, NOW, distribute=10 * S)
    assert book.next_wakeup() == NOW + 10 * S


# --- properties over random timelines -------------------------------------------------------------

_steps = st.lists(
    st.tuples(st.floats(0.0, 40.0), st.booleans(), st.sets(st.integers(0, 4), max_size=5)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(_steps)
def test_every_served_leaf_is_current_and_trusted_whatever_happens(steps) -> None:
    """Random waits, root rotations and identity sets: after every sync each leaf is unexpired,
    issued by a trusted root, and due for renewal no later than its expiry."""
    book = CertificateBook(_ROOT, trust_domain=TRUST_DOMAIN, leaf_lifetime=timedelta(seconds=30))
    now = NOW
    for wait, rotate, members in steps:
        now += timedelta(seconds=wait)
        if rotate and book.root_state.phase is RotationPhase.STEADY:
            book.begin_root_rotation(
                create_root(trust_domain=TRUST_DOMAIN, now=now), now, distribute=5 * S, overlap=5 * S
            )
        ids = [SpiffeId(TRUST_DOMAIN, "ns", f"sa{m}") for m in members]
        book.sync(ids, now)
        assert book.identities == set(ids)
        for identity in ids:
            leaf = book.bundle(identity).leaf
            assert not leaf.is_expired(now)
            assert book.trust_bundle.trusts(leaf)
            assert book.renew_at(identity) < leaf.not_after
        assert book.root_state.signer.key_id in book.trust_bundle.key_ids
        assert len(book.trust_bundle.roots) <= 2
