"""Token file and per-user context file: modes, atomicity, lookup by address."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from smimesh.api import auth


@pytest.fixture(autouse=True)
def private_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    context = tmp_path / "config" / "smimesh" / "contexts.json"
    monkeypatch.setenv("SMIMESH_CONTEXT_FILE", str(context))
    return context


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_token_is_random_and_private(tmp_path: Path) -> None:
    first = auth.write_token(tmp_path / "run")
    second = auth.write_token(tmp_path / "run2")
    assert first != second and len(first) >= 40
    assert mode(tmp_path / "run" / "token") == 0o600
    assert auth.read_token(tmp_path / "run") == first


def test_register_and_find_token_by_address(tmp_path: Path, private_context: Path) -> None:
    token = auth.write_token(tmp_path / "run")
    auth.register_context("127.0.0.1:15080", tmp_path / "run")
    assert mode(private_context) == 0o600
    assert auth.find_token("127.0.0.1:15080") == token
    assert auth.find_token("localhost:15080") == token, "localhost and 127.0.0.1 are one address"
    assert auth.find_token("http://127.0.0.1:15080/") == token
    assert auth.find_token("127.0.0.1:9999") is None
    assert token not in private_context.read_text(), "the context file holds paths, never tokens"


def test_unregister_only_if_still_ours(tmp_path: Path) -> None:
    auth.write_token(tmp_path / "a")
    newer = auth.write_token(tmp_path / "b")
    auth.register_context("127.0.0.1:15080", tmp_path / "a")
    auth.register_context("127.0.0.1:15080", tmp_path / "b")  # a second `up` took the address over
    auth.unregister_context("127.0.0.1:15080", tmp_path / "a")
    assert auth.find_token("127.0.0.1:15080") == newer
    auth.unregister_context("127.0.0.1:15080", tmp_path / "b")
    assert auth.find_token("127.0.0.1:15080") is None


def test_corrupt_context_file_is_ignored(private_context: Path) -> None:
    private_context.parent.mkdir(parents=True)
    private_context.write_text("{not json")
    assert auth.find_token("127.0.0.1:15080") is None


def test_token_matches() -> None:
    assert auth.token_matches("abc", "abc")
    assert not auth.token_matches("abd", "abc")
    assert not auth.token_matches(None, "abc")


def test_unwritable_context_file_is_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the config directory should be")
    monkeypatch.setenv("SMIMESH_CONTEXT_FILE", str(blocker / "contexts.json"))
    auth.write_token(tmp_path / "run")
    assert auth.register_context("127.0.0.1:15080", tmp_path / "run") is False
    assert auth.find_token("127.0.0.1:15080") is None
