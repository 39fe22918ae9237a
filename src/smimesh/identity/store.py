"""The root CA on disk: created in the state directory on first start, reused afterwards.

Files: `<state_dir>/ca/root-cert.pem` (0644) and `<state_dir>/ca/root-key.pem` (0600, in a 0700
directory). The key is written atomically with its final mode from the first byte (never a
moment world-readable). A key file readable by group or others is refused, whether it is ours or
the user's `--ca-key`, with the fix in the message.

Only roots are ever stored. Leaf keys go to sidecars over SDS: this module takes a
`CertificateAuthority` and nothing else, so there is no way to write a leaf key with it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from smimesh.identity.ca import DEFAULT_ROOT_LIFETIME, CertificateAuthority, create_root
from smimesh.identity.errors import CaMaterialError, InsecureKeyFileError
from smimesh.identity.keys import private_key_pem
from smimesh.identity.user_ca import load_root

CA_DIR = "ca"
ROOT_CERT_FILE = "root-cert.pem"
ROOT_KEY_FILE = "root-key.pem"
KEY_FILE_MODE = 0o600
CA_DIR_MODE = 0o700


@dataclass(frozen=True, slots=True)
class RootFiles:
    cert: Path
    key: Path

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> RootFiles:
        return cls(state_dir / CA_DIR / ROOT_CERT_FILE, state_dir / CA_DIR / ROOT_KEY_FILE)


def load_or_create_root(
    state_dir: Path, *, trust_domain: str, now: datetime, lifetime: timedelta = DEFAULT_ROOT_LIFETIME
) -> tuple[CertificateAuthority, bool]:
    """The root kept in `state_dir` (created and saved if there is none); second item: created now."""
    files = RootFiles.in_state_dir(state_dir)
    cert_exists, key_exists = files.cert.exists(), files.key.exists()
    if cert_exists and key_exists:
        return load_root_files(files.cert, files.key, now=now), False
    if cert_exists or key_exists:
        present, missing = (files.cert, files.key) if cert_exists else (files.key, files.cert)
        raise CaMaterialError(
            f"CA state is incomplete: {present} exists but {missing} does not",
            hint=f"restore {missing}, or delete {present} to let smimesh create a new root "
            "(sidecars will get new certificates)",
        )
    root = create_root(trust_domain=trust_domain, now=now, lifetime=lifetime)
    save_root(state_dir, root)
    return root, True


def load_root_files(cert_path: Path, key_path: Path, *, now: datetime) -> CertificateAuthority:
    """Load a root from PEM files (ours or the user's --ca-cert/--ca-key), checking the key's mode first."""
    check_key_file_private(key_path)
    cert_pem, key_pem = _read(cert_path, "--ca-cert"), _read(key_path, "--ca-key")
    return load_root(cert_pem, key_pem, now=now, source=f"{cert_path}, {key_path}")


def save_root(state_dir: Path, root: CertificateAuthority) -> RootFiles:
    """Write `root` into `state_dir` (replacing what is there, atomically per file)."""
    files = RootFiles.in_state_dir(state_dir)
    files.key.parent.mkdir(mode=CA_DIR_MODE, parents=True, exist_ok=True)
    os.chmod(files.key.parent, CA_DIR_MODE)
    _write_atomically(files.key, private_key_pem(root.private_key), KEY_FILE_MODE)
    _write_atomically(files.cert, root.pem_with_issuers, 0o644)
    return files


def check_key_file_private(path: Path) -> None:
    """Raise InsecureKeyFileError if group or others may read or write the key file."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise CaMaterialError(
            f"cannot read CA key file {path}: {exc.strerror}", hint="check the path given to --ca-key"
        ) from None
    if mode & 0o077:
        raise InsecureKeyFileError(
            f"CA key file {path} is accessible by group or others (mode {mode:04o})",
            hint=f"restrict it to its owner: chmod 600 {path}",
        )


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CaMaterialError(
            f"cannot read {path}: {exc.strerror}", hint=f"check the path given to {flag}"
        ) from None


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # mode from the first byte
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
