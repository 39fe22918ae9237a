"""The API token: written by `smimesh up` into its run directory, found by the CLI by itself.

`smimesh up` calls `write_token(run_dir)` (a fresh random token, file mode 0600) and
`register_context(api_addr, run_dir)`: a small per-user file (0600, in a 0700 directory) that maps
the API address to that run directory, so `smimesh apply` run from anywhere finds the token of
the control plane it talks to. Order of precedence in the CLI: `--token`, then `SMIMESH_TOKEN`,
then `find_token(api_addr)`.

The context file is `$SMIMESH_CONTEXT_FILE`, else `$XDG_CONFIG_HOME/smimesh/contexts.json`, else
`~/.config/smimesh/contexts.json`. It holds paths only, never tokens: the token stays in the run
directory, readable by its owner alone. Beside it, `last-run.json` records the most recent `smimesh up`
(address and run directory) and is kept after that mesh stops, so `smimesh logs` still finds its logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

TOKEN_FILE = "token"
LAST_RUN_FILE = "last-run.json"


def write_token(run_dir: Path) -> str:
    """Create a new token in `run_dir/token` (mode 0600) and return it."""
    token = secrets.token_urlsafe(32)
    _write_private(Path(run_dir) / TOKEN_FILE, token + "\n")
    return token


def read_token(run_dir: Path) -> str | None:
    try:
        return (Path(run_dir) / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def token_matches(presented: str | None, token: str) -> bool:
    """Constant-time comparison (no timing oracle on the token)."""
    return presented is not None and secrets.compare_digest(presented.encode(), token.encode())


def context_file() -> Path:
    explicit = os.environ.get("SMIMESH_CONTEXT_FILE")
    if explicit:
        return Path(explicit)
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "smimesh" / "contexts.json"


def register_context(api_addr: str, run_dir: Path) -> bool:
    """Remember that the control plane at `api_addr` keeps its token in `run_dir`, and that this is
    the last run (`last-run.json`, kept after it stops).

    False if the context file cannot be written (a read-only home): the mesh still runs, and the
    CLI then needs `--token`/`SMIMESH_TOKEN`.
    """
    contexts = _read_contexts()
    contexts[normalize_addr(api_addr)] = {"run_dir": str(Path(run_dir).resolve())}
    last_run = {"api_addr": normalize_addr(api_addr), "run_dir": str(Path(run_dir).resolve())}
    registered = _write_json(context_file(), contexts)
    _write_json(_last_run_file(), last_run)  # only `logs` reads it, and falls back to ./.smimesh
    return registered


def unregister_context(api_addr: str, run_dir: Path) -> bool:
    """Forget `api_addr` if it still points at `run_dir` (another `up` may have taken it over)."""
    contexts = _read_contexts()
    entry = contexts.get(normalize_addr(api_addr))
    if entry and entry.get("run_dir") == str(Path(run_dir).resolve()):
        del contexts[normalize_addr(api_addr)]
        return _write_json(context_file(), contexts)
    return True


def find_token(api_addr: str) -> str | None:
    """The token of the control plane at `api_addr`, from the per-user context file."""
    run_dir = registered_run_dir(api_addr)
    return read_token(run_dir) if run_dir is not None else None


def registered_run_dir(api_addr: str) -> Path | None:
    """The run directory of the running `smimesh up` at `api_addr`, from the context file."""
    return _run_dir_of(_read_contexts().get(normalize_addr(api_addr)))


def last_run_dir() -> Path | None:
    """The run directory of the most recent `smimesh up` of this user, running or not."""
    return _run_dir_of(_read_json(_last_run_file()))


def _run_dir_of(entry: Any) -> Path | None:
    run_dir = entry.get("run_dir") if isinstance(entry, dict) else None
    return Path(run_dir) if isinstance(run_dir, str) else None


def _last_run_file() -> Path:
    return context_file().with_name(LAST_RUN_FILE)


def known_api_addrs() -> list[str]:
    """The API addresses `smimesh up` registered in the context file (some may have stopped since)."""
    return sorted(_read_contexts())


def normalize_addr(api_addr: str) -> str:
    """`http://LOCALHOST:15080/` -> `127.0.0.1:15080` so equal addresses share one entry."""
    addr = api_addr.strip().removeprefix("http://").removeprefix("https://").rstrip("/").lower()
    host, _, port = addr.rpartition(":")
    return f"127.0.0.1:{port}" if host in ("localhost", "") else addr


def _read_contexts() -> dict[str, Any]:
    return _read_json(context_file())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> bool:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError:
        return False
    return True


def _write_private(path: Path, text: str) -> None:
    """Write atomically (temp file + fsync + rename), mode 0600 from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
