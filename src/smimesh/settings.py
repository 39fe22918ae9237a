"""Every tunable of smimesh, once, with its default and why.

Layers take the values they need as parameters (pure layers never read the environment);
the runtime builds one `Settings` from defaults, the environment (`SMIMESH_*`) and CLI flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Settings:
    # --- input limits (bounded input: no YAML bombs, no huge bodies) ---
    max_file_bytes: int = 8 * 1024 * 1024
    max_documents: int = 20_000
    max_yaml_depth: int = 64
    max_yaml_aliases: int = 200
    max_api_body_bytes: int = 4 * 1024 * 1024

    # --- control plane ---
    api_addr: str = f"{LOOPBACK}:15080"  # HTTP API of a running control plane
    xds_addr: str = f"{LOOPBACK}:0"  # ADS/SDS gRPC; 0 = pick a free port and tell the sidecars
    debounce_quiet_s: float = 0.010  # coalesce bursts of changes; issue 3 asks for <= 20 ms
    debounce_max_wait_s: float = 0.100  # ...but never hold a change back longer than this

    # --- identity ---
    trust_domain: str = "cluster.local"
    leaf_lifetime_s: float = 24 * 3600.0
    leaf_renew_fraction: float = 0.5  # renew at half-life, with jitter
    root_lifetime_s: float = 365 * 86400.0  # a root smimesh creates (a user's --ca-cert keeps its own)
    root_rotate_at_fraction: float = 0.8  # a managed root is replaced when this much of its life is gone
    # root rotation phases: the new root is trusted everywhere for `distribute` before it signs, and the
    # old one stays trusted for `overlap` after, so every reissued leaf is delivered first. Both are
    # also capped by the leaf lifetime (a leaf must renew within them), see runtime.identity.
    root_distribute_s: float = 10.0
    root_overlap_s: float = 30.0
    identity_max_sleep_s: float = 3600.0  # the renewal task wakes at least this often (clock jumps)

    # --- local runtime ---
    run_dir: Path = Path(".smimesh")  # per-`up` state: token, logs, applied resources, CA
    restart_backoff_initial_s: float = 0.5
    restart_backoff_max_s: float = 10.0
    envoy_log_level: str = "warning"
    not_listening_after_s: float = 5.0  # an app not listening on its ports by then is reported
    stderr_tail_lines: int = 5  # last lines of a crashed app's stderr shown on the console

    # --- telemetry ---
    scrape_interval_s: float = 1.0  # also Envoy's stats_flush_interval, so histograms keep up with counts
    metrics_max_window_s: float = 300.0

    def with_overrides(self, **values: Any) -> Settings:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in values.items() if k in known and v is not None})


def from_environment(base: Settings | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings with `SMIMESH_<FIELD>` environment variables applied (typed like the defaults)."""
    base = base or Settings()
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(base):
        raw = env.get(f"SMIMESH_{f.name.upper()}")
        if raw is None:
            continue
        current = getattr(base, f.name)
        values[f.name] = Path(raw) if isinstance(current, Path) else type(current)(raw)
    return base.with_overrides(**values)
