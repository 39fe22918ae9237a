"""The identity task: a leaf for every identity of the model, and root rotation on a virtual clock."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smimesh.identity import RotationPhase, SpiffeId, create_root, save_root
from smimesh.runtime.identity import MeshSecurity
from smimesh.settings import Settings
from smimesh.testing.access_world import inputs_of, workload

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_every_identity_of_the_model_gets_a_leaf_and_status_shows_expiry(tmp_path: Path) -> None:
    clock = Clock()
    security = MeshSecurity(tmp_path, Settings(leaf_lifetime_s=60), clock=clock)
    assert stat.S_IMODE((tmp_path / "ca" / "root-key.pem").stat().st_mode) == 0o600
    security.build_model(*inputs_of(workload("web"), workload("client")))
    assert security.bundle_of(SpiffeId("cluster.local", "shop", "web")) is not None
    assert security.identity_of_node("web-0.shop") == SpiffeId("cluster.local", "shop", "web")
    status = security.status(["shop"])
    assert [c["identity"] for c in status["certificates"]] == [
        "spiffe://cluster.local/ns/shop/sa/client",
        "spiffe://cluster.local/ns/shop/sa/web",
    ]
    assert all(0 < c["expires_in_s"] <= 60 for c in status["certificates"])
    assert status["namespaces"] == [
        {"namespace": "shop", "traffic_policy": "smi", "mtls": "strict", "audit": False}
    ]


def test_a_managed_root_rotates_at_80_percent_and_the_new_root_is_saved(tmp_path: Path) -> None:
    clock = Clock()
    old = create_root(trust_domain="cluster.local", now=T0, lifetime=timedelta(seconds=100))
    save_root(tmp_path, old)
    security = MeshSecurity(tmp_path, Settings(leaf_lifetime_s=8), clock=clock)
    web = SpiffeId("cluster.local", "shop", "web")
    security.book.sync({web}, clock.now)
    issued = old.not_before + timedelta(minutes=5)  # notBefore is backdated by the clock-skew allowance
    due = issued + (old.not_after - issued) * 0.8
    clock.now = due - timedelta(seconds=1)
    assert security._rotate_root_if_due(clock.now) is None
    clock.now = due
    changes = security._rotate_root_if_due(clock.now)
    assert changes is not None and changes.trust_bundle_changed
    assert security.book.root_state.phase is RotationPhase.DISTRIBUTING
    assert len(security.book.trust_bundle.roots) == 2  # the new root is trusted before it signs
    clock.now += timedelta(seconds=2)  # distribute = leaf/4 = 2 s
    assert web in security.book.sync({web}, clock.now).reissued  # new root signs: every leaf reissued
    assert security.book.bundle(web).leaf.issuer_key_id != old.key_id
    clock.now += timedelta(seconds=4)  # overlap = leaf/2 = 4 s
    assert security.book.sync({web}, clock.now).trust_bundle_changed  # the old root is retired
    security._save_root_when_rotated()
    assert (tmp_path / "ca" / "root-cert.pem").read_bytes() != old.pem_with_issuers
    assert security.status()["root"]["rotations"] == 1
    assert security._rotate_root_if_due(clock.now) is None  # the new root has its whole life ahead
