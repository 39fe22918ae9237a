"""The root on disk: 0600 key created on first start, reused after, unsafe modes refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from smimesh.identity import (
    CaMaterialError,
    CertificateBook,
    InsecureKeyFileError,
    SpiffeId,
    load_or_create_root,
    load_root_files,
    save_root,
)
from smimesh.identity import store as store_module
from smimesh.identity.store import RootFiles
from smimesh.testing.identity_helpers import NOW, TRUST_DOMAIN


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_a_private_root(tmp_path: Path) -> None:
    root, created = load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    files = RootFiles.in_state_dir(tmp_path)
    assert created
    assert _mode(files.key) == 0o600
    assert _mode(files.key.parent) == 0o700
    assert files.cert.read_bytes() == root.certificate_pem
    assert sorted(p.name for p in files.key.parent.iterdir()) == ["root-cert.pem", "root-key.pem"]


def test_key_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    finally:
        os.umask(previous)
    assert _mode(RootFiles.in_state_dir(tmp_path).key) == 0o600


def test_second_start_reuses_the_root(tmp_path: Path) -> None:
    first, _ = load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    second, created = load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    assert not created and second.fingerprint == first.fingerprint


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o601])
def test_refuses_a_key_readable_by_others(tmp_path: Path, mode: int) -> None:
    load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    key = RootFiles.in_state_dir(tmp_path).key
    key.chmod(mode)
    with pytest.raises(InsecureKeyFileError) as caught:
        load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    assert f"chmod 600 {key}" in caught.value.hint
    assert f"{mode:04o}" in caught.value.message


def test_user_files_are_checked_too(tmp_path: Path) -> None:
    root, _ = load_or_create_root(tmp_path / "state", trust_domain=TRUST_DOMAIN, now=NOW)
    files = RootFiles.in_state_dir(tmp_path / "state")
    assert load_root_files(files.cert, files.key, now=NOW).fingerprint == root.fingerprint
    with pytest.raises(CaMaterialError, match="cannot read CA key file") as caught:
        load_root_files(files.cert, tmp_path / "missing.key", now=NOW)
    assert "--ca-key" in caught.value.hint
    with pytest.raises(CaMaterialError, match="cannot read") as caught:
        load_root_files(tmp_path / "missing.pem", files.key, now=NOW)
    assert "--ca-cert" in caught.value.hint


def test_half_a_root_is_an_error_with_a_way_out(tmp_path: Path) -> None:
    load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    RootFiles.in_state_dir(tmp_path).cert.unlink()
    with pytest.raises(CaMaterialError, match="incomplete") as caught:
        load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    assert "restore" in caught.value.hint


def test_save_replaces_atomically_and_leaves_no_temporary(tmp_path: Path, other_root) -> None:
    load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    files = save_root(tmp_path, other_root)
    assert load_root_files(files.cert, files.key, now=NOW).fingerprint == other_root.fingerprint
    assert sorted(p.name for p in files.key.parent.iterdir()) == ["root-cert.pem", "root-key.pem"]


def test_leaf_keys_never_reach_the_state_directory(tmp_path: Path) -> None:
    """Issue leaves the way the runtime does; afterwards the state dir holds nothing but the root."""
    root, _ = load_or_create_root(tmp_path, trust_domain=TRUST_DOMAIN, now=NOW)
    book = CertificateBook(root, trust_domain=TRUST_DOMAIN)
    book.sync([SpiffeId(TRUST_DOMAIN, "ns", f"sa{i}") for i in range(5)], NOW)
    stored = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sorted(p.name for p in stored) == ["root-cert.pem", "root-key.pem"]
    leaf_key = book.bundle(SpiffeId(TRUST_DOMAIN, "ns", "sa0")).leaf.private_key_pem
    assert all(leaf_key not in p.read_bytes() for p in stored)


def test_the_store_api_only_takes_roots() -> None:
    """Structural: every public writer in the store takes a CertificateAuthority, never a Leaf."""
    writers = [name for name in dir(store_module) if name.startswith(("save", "write"))]
    assert writers == ["save_root"]
    assert store_module.save_root.__annotations__["root"] == "CertificateAuthority"
