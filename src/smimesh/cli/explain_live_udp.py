"""`smimesh explain --live` for a UDP service port: ask the CALLER's sidecars, not the destination's.

Envoy has no mTLS for UDP, so a UDP port is not guarded by the destination's RBAC: access is
enforced on the caller's side, where a sidecar holds the upstream listener
`outbound_udp|<ns>|<svc>|<port>` only if the caller's identity may send there (`mesh.udp`). Owns
`check_caller(sidecars, expected_row)`: for one caller instance (a row of
`xds.expectations.expected_sidecars`, which says whether the generator gives it the listener) it
reads the listeners its Envoy really holds (its admin's config_dump, `cli._sidecars`), compares
"holds the listener" with the expectation, and adds the listener's datagram counters.
"""

from __future__ import annotations

from typing import Any

import httpx

from smimesh.cli._sidecars import Sidecars, node_of
from smimesh.errors import SmimeshError


def active_listener_names(listener_dump: Any) -> set[str]:
    """Names of the listeners Envoy serves (active, not warming) in a listeners config_dump."""
    held: set[str] = set()
    for config in listener_dump.get("configs", []) if isinstance(listener_dump, dict) else []:
        for listener in config.get("dynamic_listeners", []):
            if listener.get("active_state"):
                held.add(str(listener.get("name", "")))
        held |= {str(s.get("listener", {}).get("name", "")) for s in config.get("static_listeners", [])}
    return held


def _datagram_counters(sidecars: Sidecars, node_id: str, stat_prefix: str) -> dict[str, int]:
    """The udp_proxy counters of one listener (`udp.<stat_prefix>.<counter>`)."""
    text = sidecars.stats(node_id, f"^udp\\.{stat_prefix}\\.")
    counters = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            counters[name.removeprefix(f"udp.{stat_prefix}.")] = int(value)
    return counters


def check_caller(sidecars: Sidecars, expected: dict[str, Any]) -> dict[str, Any]:
    """The row with `holds_listener`, `counters` and `agrees` (or `error` if unreadable)."""
    row = dict(expected)
    try:
        node_id = node_of(row)
        answer = sidecars.config(node_id, "listeners")
        row["holds_listener"] = row["listener"] in active_listener_names(answer.get("config", {}))
        holds = row["holds_listener"]
        row["counters"] = _datagram_counters(sidecars, node_id, row["stat_prefix"]) if holds else {}
    except (SmimeshError, httpx.HTTPError) as error:  # an unreadable sidecar is reported, not fatal
        row["error"] = f"{type(error).__name__}: {error}"
    row["agrees"] = row.get("holds_listener") == row["expects_listener"]
    return row


def render_caller_row(row: dict[str, Any], source: str) -> list[str]:
    """The text lines of one caller-side row (see `check_caller`)."""
    verdict = f"matches {source}" if row["agrees"] else f"DIFFERS from {source}"
    holds = "holds" if row["holds_listener"] else "does not hold"
    lines = [f"  {row['instance']} (caller): {holds} UDP listener {row['listener']} - {verdict}"]
    counters = ", ".join(f"{k}={v}" for k, v in sorted(row["counters"].items()) if v)
    if row["holds_listener"]:
        lines.append(f"    datagram counters: {counters or 'none yet'}")
    return lines
