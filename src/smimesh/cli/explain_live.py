"""`smimesh explain --live`: cross-check the offline verdict against the running destination sidecars.

(A UDP port is checked at the callers instead, where its access is enforced: `explain_live_udp`.)

Owns `live_check(model, explanation, api)`: for every instance serving the destination port it
reads, from the running mesh, the sidecar's inbound listener and route configuration (through the
API's proxy config, i.e. what Envoy really holds) and its RBAC counters (Envoy admin stats), and
compares the RBAC policy names the sidecar enforces with those the manifests produce
(`xds.rbac.inbound_access`, the generator's own function). A difference means the running mesh
was not started from these manifests, or has not caught up with them yet.
"""

from __future__ import annotations

from typing import Any

import httpx

from smimesh.api.client import ApiClient
from smimesh.cli.explain_live_udp import CALLER_SIDE, render_caller_row, udp_live_check
from smimesh.errors import SmimeshError
from smimesh.mesh.explain import Explanation
from smimesh.mesh.model import Endpoint, MeshModel, Protocol
from smimesh.xds.rbac import inbound_access


def _policies_in(listener_dump: Any) -> set[str]:
    """Every RBAC policy name found in a (JSON) listener config dump."""
    found: set[str] = set()
    if isinstance(listener_dump, dict):
        for key, value in listener_dump.items():
            if key == "policies" and isinstance(value, dict):
                found |= set(value)
            else:
                found |= _policies_in(value)
    elif isinstance(listener_dump, list):
        for item in listener_dump:
            found |= _policies_in(item)
    return found


def _policies_under(dump: Any, name: str) -> set[str]:
    """RBAC policy names inside every object called `name` (the inbound listener and its routes)."""
    if isinstance(dump, dict):
        if dump.get("name") == name:
            return _policies_in(dump)
        return set().union(*(_policies_under(value, name) for value in dump.values()))
    if isinstance(dump, list):
        return set().union(*(_policies_under(item, name) for item in dump))
    return set()


def _rbac_counters(admin: str, port_name: str) -> dict[str, int]:
    text = httpx.get(f"http://{admin}/stats", params={"filter": f"inbound_{port_name}.rbac"}, timeout=5).text
    counters = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            counters[name.split(".rbac.", 1)[-1]] = int(value)
    return counters


def _check(model: MeshModel, api: ApiClient, endpoint: Endpoint, protocol: Protocol) -> dict[str, Any] | None:
    instance = model.instance(endpoint.node_id)
    ports = instance.inbound if instance else ()
    inbound = next((p for p in ports if p.container_port == endpoint.container_port), None)
    if instance is None or inbound is None:
        return None
    access = inbound_access(model, endpoint.identity, inbound.name, endpoint.container_port, protocol)
    expected = sorted(r.policy for r in access.rules) if access.enforce else []
    row: dict[str, Any] = {"instance": instance.name, "expected_policies": expected}
    try:
        answer = api.proxy_config(instance.name, "listeners")
        routes = api.proxy_config(instance.name, "routes").get("config", {})
        name = f"inbound|{inbound.name}"
        enforced = _policies_under(answer.get("config", {}), name) | _policies_under(routes, name)
        row["enforced_policies"] = sorted(enforced)
        admin = str(answer.get("admin") or "")
        row["counters"] = _rbac_counters(admin, inbound.name) if admin else {}
    except (SmimeshError, httpx.HTTPError) as error:  # an unreadable sidecar is reported, not fatal
        row["error"] = f"{type(error).__name__}: {error}"
    row["agrees"] = row.get("enforced_policies") == expected
    return row


def live_check(model: MeshModel, result: Explanation, api: ApiClient) -> list[dict[str, Any]]:
    """One row per destination instance: expected vs enforced policies, and its RBAC counters."""
    service = model.service(result.service)
    port = service.port(result.port) if service else None
    if port is None:
        return []
    if port.protocol is Protocol.UDP:  # no mTLS for UDP: access is enforced by the caller's sidecar
        return udp_live_check(model, result, api)
    rows = (_check(model, api, endpoint, port.protocol) for endpoint in port.endpoints)
    return [row for row in rows if row is not None]


def render_live(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "live: no running instance serves that port"
    side = "caller" if rows[0].get("side") == CALLER_SIDE else "destination"
    lines = [f"live (the running {side} sidecars):"]
    for row in rows:
        if "error" in row:
            lines.append(f"  {row['instance']}: cannot read its sidecar ({row['error']})")
            continue
        if row.get("side") == CALLER_SIDE:
            lines += render_caller_row(row)
            continue
        verdict = "matches the manifests" if row["agrees"] else "DIFFERS from the manifests"
        lines.append(
            f"  {row['instance']}: enforces {row['enforced_policies'] or 'no policy (deny all)'} - {verdict}"
        )
        counters = ", ".join(f"{k}={v}" for k, v in sorted(row["counters"].items()) if v)
        lines.append(f"    RBAC counters: {counters or 'none yet'}")
    return "\n".join(lines)
