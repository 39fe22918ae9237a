"""`smimesh explain --live` for a UDP service port: ask the CALLER's sidecars, not the destination's.

Envoy has no mTLS for UDP, so a UDP port is not guarded by the destination's RBAC: access is
enforced on the caller's side, where a sidecar holds the upstream listener
`outbound_udp|<ns>|<svc>|<port>` only if the caller's identity may send there (`mesh.udp`). Owns
`udp_live_check(model, explanation, api)`: for every instance with the caller's identity it reads
the listeners its Envoy really holds (the API's proxy config, from the sidecar's admin
config_dump) and compares "holds the listener" with what the generator's own function
(`mesh.udp.udp_upstreams`) decides from the manifests, plus the listener's datagram counters.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from smimesh.api.client import ApiClient
from smimesh.errors import SmimeshError
from smimesh.mesh.explain import Explanation
from smimesh.mesh.model import Instance, MeshModel, TcpUpstream
from smimesh.mesh.udp import udp_upstreams
from smimesh.xds import names

CALLER_SIDE = "caller"


def _expects_listener(model: MeshModel, caller: Instance, result: Explanation) -> bool:
    """Whether the generator gives `caller` the UDP upstream of the explained port.

    The offline instances announce no upstreams (the runtime allocates those ports), so the caller
    is given this one port to announce and `udp_upstreams` decides, exactly as for the sidecar.
    """
    service = result.service
    announcing = dataclasses.replace(
        caller, tcp_upstreams=(TcpUpstream(service.namespace, service.name, result.port, 0),)
    )
    return bool(udp_upstreams(model, announcing))


def active_listener_names(listener_dump: Any) -> set[str]:
    """Names of the listeners Envoy serves (active, not warming) in a listeners config_dump."""
    held: set[str] = set()
    for config in listener_dump.get("configs", []) if isinstance(listener_dump, dict) else []:
        for listener in config.get("dynamic_listeners", []):
            if listener.get("active_state"):
                held.add(str(listener.get("name", "")))
        held |= {str(s.get("listener", {}).get("name", "")) for s in config.get("static_listeners", [])}
    return held


def _datagram_counters(admin: str, stat_prefix: str) -> dict[str, int]:
    """The udp_proxy counters of one listener (`udp.<stat_prefix>.<counter>`)."""
    answer = httpx.get(f"http://{admin}/stats", params={"filter": f"^udp\\.{stat_prefix}\\."}, timeout=5)
    counters = {}
    for line in answer.text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            counters[name.removeprefix(f"udp.{stat_prefix}.")] = int(value)
    return counters


def _check(model: MeshModel, api: ApiClient, caller: Instance, result: Explanation) -> dict[str, Any]:
    listener = names.udp_upstream_listener(result.service, result.port)
    expected = _expects_listener(model, caller, result)
    row: dict[str, Any] = {
        "instance": caller.name,
        "side": CALLER_SIDE,
        "listener": listener,
        "expects_listener": expected,
    }
    try:
        answer = api.proxy_config(caller.name, "listeners")
        row["holds_listener"] = listener in active_listener_names(answer.get("config", {}))
        admin = str(answer.get("admin") or "")
        prefix = names.udp_upstream_stat_prefix(result.service, result.port)
        row["counters"] = _datagram_counters(admin, prefix) if admin and row["holds_listener"] else {}
    except (SmimeshError, httpx.HTTPError) as error:  # an unreadable sidecar is reported, not fatal
        row["error"] = f"{type(error).__name__}: {error}"
    row["agrees"] = row.get("holds_listener") == expected
    return row


def udp_live_check(model: MeshModel, result: Explanation, api: ApiClient) -> list[dict[str, Any]]:
    """One row per instance with the caller's identity: expected vs held UDP upstream listener."""
    callers = sorted(
        (inst for inst in model.instances.values() if inst.identity == result.source), key=lambda i: i.name
    )
    return [_check(model, api, caller, result) for caller in callers]


def render_caller_row(row: dict[str, Any]) -> list[str]:
    """The text lines of one caller-side row (see `udp_live_check`)."""
    verdict = "matches the manifests" if row["agrees"] else "DIFFERS from the manifests"
    holds = "holds" if row["holds_listener"] else "does not hold"
    lines = [f"  {row['instance']} (caller): {holds} UDP listener {row['listener']} - {verdict}"]
    counters = ", ".join(f"{k}={v}" for k, v in sorted(row["counters"].items()) if v)
    if row["holds_listener"]:
        lines.append(f"    datagram counters: {counters or 'none yet'}")
    return lines
