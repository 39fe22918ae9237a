"""`smimesh explain --live`: compare what the sidecars should hold with what their Envoy really holds.

(A UDP port is checked at the callers instead, where its access is enforced: `explain_live_udp`.)

Owns `live_check(expected_rows, api)`: the rows come from `xds.expectations.expected_sidecars`
(answered by the control plane from the model in force, or computed from `-f` files). For each
destination instance it reads the sidecar's inbound listener and route configuration (through the
API's proxy config, i.e. what Envoy really holds), its port's RBAC counters (`allowed`, `denied`,
audit's `shadow_*`; Envoy admin stats: no per-policy counters, which cost a counter lookup per request)
and the requests each HTTPRouteGroup match's route served (`routes`: the route's own cluster's
`upstream_rq_total`, xds/route_stats.py), and compares the RBAC policy names the sidecar enforces
with the expected ones. A difference means the sidecar has not caught up yet, or (with `-f`) that
the running mesh does not run those files. With enforced RBAC the per-match routes admit their
callers without the RBAC filter (`xds.route_stats`), so `allowed` adds what those routes served
(read from the route configuration the sidecar holds) to the filter's own count. A TCP port's
callers refused at the mTLS handshake count as `denied_at_handshake` (its RBAC's denials).
Where the sidecars are read is a `cli._sidecars.Sidecars`: the local API, or in a cluster the pods'
admin through port-forward.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from smimesh.cli._sidecars import Sidecars, node_of
from smimesh.cli.explain_live_udp import check_caller, render_caller_row
from smimesh.errors import SmimeshError
from smimesh.xds import names
from smimesh.xds.expectations import CALLER_SIDE
from smimesh.xds.rbac import HTTP_RBAC_FILTER
from smimesh.xds.route_stats import RBAC_OFF


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


def _called(dump: Any, name: str) -> list[dict[str, Any]]:
    """The outermost objects called `name` in a (JSON) config dump (the inbound listener, its routes)."""
    if isinstance(dump, dict):
        if dump.get("name") == name:
            return [dump]
        return [found for value in dump.values() for found in _called(value, name)]
    if isinstance(dump, list):
        return [found for item in dump for found in _called(item, name)]
    return []


def _policies_under(dump: Any, name: str) -> set[str]:
    """RBAC policy names inside every object called `name` (the inbound listener and its routes)."""
    return set().union(*(_policies_in(found) for found in _called(dump, name)))


# A TCP port refuses the callers its RBAC would deny at the mTLS handshake (xds.inbound_access).
_HANDSHAKE_DENIED = ".ssl.fail_verify_san"


def _rbac_counters(sidecars: Sidecars, node_id: str, port_name: str) -> dict[str, int]:
    wanted = rf"inbound_{port_name}\.(rbac\.|ssl\.fail_verify_san$)"
    text = sidecars.stats(node_id, wanted)
    counters = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            key = "denied_at_handshake" if name.endswith(_HANDSHAKE_DENIED) else name.split(".rbac.", 1)[-1]
            counters[key] = int(value)
    return counters


_ROUTE_REQUESTS = ".upstream_rq_total"


def _route_requests(sidecars: Sidecars, node_id: str, port_name: str) -> dict[str, int]:
    """Requests served per HTTPRouteGroup match route of the port (by route name)."""
    prefix = f"cluster.{names.route_cluster(port_name, '')}"
    text = sidecars.stats(node_id, rf"^{re.escape(prefix)}[^.]*\.upstream_rq_total$")
    counts = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        cluster = name.removeprefix("cluster.").removesuffix(_ROUTE_REQUESTS)
        parsed = names.parse_route_cluster(cluster)
        if parsed and parsed[0] == port_name and value.strip().isdigit():
            counts[parsed[1]] = int(value)
    return counts


def _admitting_routes(routes_dump: Any, name: str) -> set[str]:
    """The routes of the route configuration called `name` that admit their callers themselves
    (the RBAC filter turned off on them: `xds.route_stats`)."""
    off = {"@type": RBAC_OFF.type_url, "disabled": True}
    return {
        route.get("name", "")
        for config in _called(routes_dump, name)
        for vhost in config.get("virtual_hosts", [])
        for route in vhost.get("routes", [])
        if route.get("typed_per_filter_config", {}).get(HTTP_RBAC_FILTER) == off
    }


def _check_destination(sidecars: Sidecars, expected: dict[str, Any]) -> dict[str, Any]:
    row = dict(expected)
    try:
        proxy = node_of(row)
        listeners = sidecars.config(proxy, "listeners").get("config", {})
        routes = sidecars.config(proxy, "routes").get("config", {})
        name = f"inbound|{row['port_name']}"
        enforced = _policies_under(listeners, name) | _policies_under(routes, name)
        row["enforced_policies"] = sorted(enforced)
        row["counters"] = counters = _rbac_counters(sidecars, proxy, row["port_name"])
        row["routes"] = _route_requests(sidecars, proxy, row["port_name"])
        admitting = _admitting_routes(routes, name)
        admitted = sum(n for route, n in row["routes"].items() if route in admitting)
        if admitted:
            counters["allowed"] = counters.get("allowed", 0) + admitted
    except (SmimeshError, httpx.HTTPError) as error:  # an unreadable sidecar is reported, not fatal
        row["error"] = f"{type(error).__name__}: {error}"
    row["agrees"] = row.get("enforced_policies") == row["expected_policies"]
    return row


def live_check(expected_rows: list[dict[str, Any]], sidecars: Sidecars) -> list[dict[str, Any]]:
    """Each expected row with what its sidecar holds (`enforced_policies` or `holds_listener`),
    its counters and `agrees`."""
    return [
        check_caller(sidecars, row) if row.get("side") == CALLER_SIDE else _check_destination(sidecars, row)
        for row in expected_rows
    ]


def render_live(rows: list[dict[str, Any]], source: str) -> str:
    """The text block; `source` names what the expectations came from ("the manifests", ...)."""
    if not rows:
        return "live: no running instance serves that port"
    side = "caller" if rows[0].get("side") == CALLER_SIDE else "destination"
    lines = [f"live (the running {side} sidecars):"]
    for row in rows:
        if "error" in row:
            lines.append(f"  {row['instance']}: cannot read its sidecar ({row['error']})")
            continue
        if row.get("side") == CALLER_SIDE:
            lines += render_caller_row(row, source)
            continue
        verdict = f"matches {source}" if row["agrees"] else f"DIFFERS from {source}"
        enforced = ", ".join(row["enforced_policies"]) or "no policy (deny all)"
        lines.append(f"  {row['instance']}: enforces {enforced} - {verdict}")
        counters = ", ".join(f"{k}={v}" for k, v in sorted(row["counters"].items()) if v)
        lines.append(f"    RBAC counters: {counters or 'none yet'}")
        lines += [f"    requests under {route}: {n}" for route, n in sorted(row.get("routes", {}).items())]
    return "\n".join(lines)
