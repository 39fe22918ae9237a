"""`smimesh up --ca-cert/--ca-key` in the identity task: the user's CA signs, stays, and is left alone
by root rotation; the rotation timings of a managed root come from settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smimesh.identity import RotationPhase, SpiffeId, create_root, save_root
from smimesh.identity.errors import IdentityError
from smimesh.runtime.identity import MeshSecurity
from smimesh.settings import Settings
from smimesh.testing.access_world import inputs_of, workload
from smimesh.testing.user_pki import write_user_ca

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WEB = SpiffeId("cluster.local", "shop", "web")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_user_ca_signs_every_leaf_and_is_never_copied_into_the_run_dir(tmp_path: Path) -> None:
    files = write_user_ca(tmp_path / "pki", T0)
    security = MeshSecurity(tmp_path / "run", Settings(), clock=Clock(), user_ca=files)
    security.build_model(*inputs_of(workload("web")))
    leaf = security.book.bundle(WEB).leaf
    assert leaf.issuer_key_id == security.book.root_state.signer.key_id
    assert security.book.root_state.signer.certificate.subject.rfc4514_string() == "CN=mesh issuing CA"
    assert not (tmp_path / "run" / "ca").exists()  # the user's key stays where the user keeps it
    assert security.status()["root"]["source"] == "user (--ca-cert)"


def test_root_rotation_leaves_a_user_ca_alone_even_near_its_end(tmp_path: Path) -> None:
    clock = Clock()
    files = write_user_ca(tmp_path / "pki", T0, lifetime=timedelta(seconds=100))
    security = MeshSecurity(tmp_path / "run", Settings(leaf_lifetime_s=8), clock=clock, user_ca=files)
    security.book.sync({WEB}, clock.now)
    signer = security.book.root_state.signer
    clock.now = T0 + timedelta(seconds=95)  # a managed root would have rotated at 80 %
    assert security._rotate_root_if_due(clock.now) is None
    security.book.sync({WEB}, clock.now)
    assert security.book.root_state.phase is RotationPhase.STEADY
    assert security.book.root_state.signer.key_id == signer.key_id
    assert security._root_rotation_due() is None


def test_a_user_key_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    cert, key = write_user_ca(tmp_path / "pki", T0)
    key.chmod(0o644)
    with pytest.raises(IdentityError) as refused:
        MeshSecurity(tmp_path / "run", Settings(), clock=Clock(), user_ca=(cert, key))
    assert f"chmod 600 {key}" in str(refused.value.hint)


def test_a_managed_root_rotates_with_the_timings_of_settings(tmp_path: Path) -> None:
    clock = Clock()
    old = create_root(trust_domain="cluster.local", now=T0, lifetime=timedelta(seconds=100))
    save_root(tmp_path, old)
    settings = Settings(
        leaf_lifetime_s=3600, root_rotate_at_fraction=0.5, root_distribute_s=3, root_overlap_s=7
    )
    security = MeshSecurity(tmp_path, settings, clock=clock)
    security.book.sync({WEB}, clock.now)
    issued = old.not_before + timedelta(minutes=5)  # notBefore is backdated by the clock-skew allowance
    due = issued + (old.not_after - issued) * 0.5
    clock.now = due - timedelta(seconds=1)
    assert security._rotate_root_if_due(clock.now) is None
    clock.now = due
    assert security._rotate_root_if_due(clock.now) is not None
    clock.now += timedelta(seconds=3)  # root_distribute_s: now the new root signs
    assert WEB in security.book.sync({WEB}, clock.now).reissued
    clock.now += timedelta(seconds=6)
    assert security.book.root_state.phase is RotationPhase.REISSUING  # overlap not over yet
    clock.now += timedelta(seconds=1)  # root_overlap_s = 7 s after the new root began signing
    assert security.book.sync({WEB}, clock.now).trust_bundle_changed
    assert security.book.root_state.phase is RotationPhase.STEADY
