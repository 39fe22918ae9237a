"""The run directory of `smimesh up` (default `DIR/.smimesh`): where every file of a running mesh lives.

Layout (the README points here):

    <run>/                      mode 0700
      token                     API token for writes (0600; written by api.auth)
      up.json                   who is running: pid of `smimesh up`, API address, served directory
      logs/<ns>/<instance>.log          the workload's stdout+stderr (appended across restarts)
      logs/<ns>/<instance>.envoy.log    its sidecar's Envoy log
      bootstrap/<ns>/<instance>.json    the sidecar's Envoy bootstrap (0600)
      applied.sqlite3           the durable store of API-applied resources (sources/durable.py)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smimesh.errors import SmimeshError


@dataclass(frozen=True, slots=True)
class RunDir:
    path: Path

    def create(self) -> RunDir:
        """Make the directory (and logs/, bootstrap/) with owner-only permissions."""
        for folder in (self.path, self.path / "logs", self.path / "bootstrap"):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
        return self

    def log_path(self, namespace: str, instance: str, *, sidecar: bool = False) -> Path:
        suffix = ".envoy.log" if sidecar else ".log"
        return self.path / "logs" / namespace / f"{instance}{suffix}"

    def bootstrap_path(self, namespace: str, instance: str) -> Path:
        return self.path / "bootstrap" / namespace / f"{instance}.json"

    @property
    def up_file(self) -> Path:
        return self.path / "up.json"

    def write_private(self, path: Path, text: str) -> None:
        """Write `text` to `path` with mode 0600 from the first byte (never readable by others)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)

    def write_up_info(self, info: dict[str, Any]) -> None:
        self.write_private(self.up_file, json.dumps(info, indent=2))

    def read_up_info(self) -> dict[str, Any]:
        try:
            data = json.loads(self.up_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def find_logs(self, name: str, *, sidecar: bool = False) -> list[Path]:
        """Log files for an instance (`bookstore-v1-0`), a node id, or a whole workload (`bookstore-v1`)."""
        logs = self.path / "logs"
        if not logs.is_dir():
            raise SmimeshError(
                f"no logs under {logs}", hint="is this the run directory of `smimesh up`? (--run-dir)"
            )
        instance, _, namespace = name.partition(".")
        pattern = f"{namespace or '*'}/{instance}"
        suffix = ".envoy.log" if sidecar else ".log"
        exact = sorted(p for p in logs.glob(f"{pattern}{suffix}") if _suffix_ok(p, sidecar))
        if exact:
            return exact
        return sorted(
            p
            for p in logs.glob(f"{pattern}-*{suffix}")
            if _suffix_ok(p, sidecar) and p.name[len(instance) + 1 :].split(".")[0].isdigit()
        )


def _suffix_ok(path: Path, sidecar: bool) -> bool:
    return path.name.endswith(".envoy.log") == sidecar
