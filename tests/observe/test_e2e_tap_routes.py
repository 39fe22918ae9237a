"""`smimesh tap`, per-route `stat` and denial counts against real traffic through `smimesh up`.

A known pattern is sent through real sidecars: caller GETs `/books/<i>` 7 times and `/health` 3
times on `web` (split 50/50 over web-v1 and web-v2), thief GETs `/books/x` 4 times from web-v1
(denied: no TrafficTarget lets thief in, so thief's own sidecar answers 403 and web-v1 never sees
them). While caller, web-v1 and thief are tapped:
- every caller request appears exactly once in caller's tap (outbound) with its path, status
  200, the destination's SPIFFE id and the backend that really answered (the body says which);
- every request that reached web-v1 appears once in web-v1's tap (inbound): caller's with the
  caller's SPIFFE id and the HTTPRouteGroup match as route; thief's four appear in thief's tap
  (outbound) as `denied` with 403, attributed to the service web-v1;
- `smimesh stat deploy web-vN --routes` counts per route exactly what each backend answered,
  and the denials of calls to it (here at the caller) as denials (not in any route, not failures);
- when the taps stop, the sidecars' request logs are switched off again.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.testing.observe_world import Mesh, Stream, eventually, make_world, smimesh, tap_switch

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(300)]
CALLER_ID = "spiffe://cluster.local/ns/shop/sa/caller"
WEB_ID = "spiffe://cluster.local/ns/shop/sa/web"
PATTERN = [f"/books/{i}" for i in range(7)] + ["/health"] * 3


def _send(mesh: Mesh, instance: str, paths: list[str], host: str = "web.shop") -> list[tuple[str, int, str]]:
    """(path, status, workload that answered) per request, through the instance's sidecar."""
    answers = []
    with httpx.Client(proxy=mesh.proxy(instance), timeout=10) as client:
        for path in paths:
            reply = client.get(f"http://{host}{path}")
            who = reply.json().get("workload", "") if reply.status_code == 200 else ""
            answers.append((path, reply.status_code, who))
    return answers


def _route_counts(mesh: Mesh, workload: str) -> dict[str, Any]:
    result = smimesh(mesh, "stat", "deploy", workload, "-n", "shop", "--routes", "-w", "5m", "-o", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    per_route = {}
    for item in body["items"]:
        values = {m["name"]: m["value"] for m in item["metrics"]}
        per_route[item["route"]["match"]] = (values["success_count"], values["failure_count"])
    return {"routes": per_route, "denied": body["denied_count"]}


def test_tap_per_route_stat_and_denials(tmp_path: Path) -> None:
    make_world(tmp_path / "shop")
    mesh = Mesh(tmp_path / "shop", tmp_path / "run", tmp_path / "contexts.json").start()
    taps: list[Stream] = []
    try:
        mesh.wait_ready(expected_instances=4)
        taps = [Stream(mesh, "tap", w, "-n", "shop", "-o", "json") for w in ("caller", "web-v1")]
        for instance in ("caller-0", "web-v1-0"):
            eventually(
                lambda i=instance: tap_switch(mesh, i) == "100", 30, what=f"{instance} tapped", mesh=mesh
            )
        assert tap_switch(mesh, "thief-0") == "", "an untapped sidecar's request log stays off"
        taps.append(Stream(mesh, "tap", "thief", "-n", "shop", "-o", "json"))
        eventually(lambda: tap_switch(mesh, "thief-0") == "100", 30, what="thief-0 tapped", mesh=mesh)

        answered = _send(mesh, "caller-0", PATTERN)
        assert all(status == 200 for _, status, _ in answered), answered
        stolen = _send(mesh, "thief-0", ["/books/x"] * 4, host="web-v1.shop")  # its own sidecar answers
        assert [status for _, status, _ in stolen] == [403] * 4
        to_v1 = [a for a in answered if a[2] == "web-v1"]

        def caller_events() -> list[dict[str, Any]] | None:
            found = [e for e in taps[0].events() if e["direction"] == "outbound"]
            return found if len(found) >= len(PATTERN) else None

        outbound = eventually(caller_events, 30, what="caller's tap shows its 10 requests", mesh=mesh)
        assert len(outbound) == len(PATTERN), outbound
        assert sorted((e["path"], e["status"], e["backend"]) for e in outbound) == sorted(
            (path, 200, f"shop/{who}") for path, _, who in answered
        )
        assert {e["peer"] for e in outbound} == {WEB_ID}
        assert {(e["workload"], e["namespace"], e["method"]) for e in outbound} == {("caller", "shop", "GET")}

        def v1_events() -> list[dict[str, Any]] | None:
            found = [e for e in taps[1].events() if e["direction"] == "inbound"]
            return found if len(found) >= len(to_v1) else None

        eventually(v1_events, 30, what="web-v1's tap shows what reached it", mesh=mesh)

        def thief_events() -> list[dict[str, Any]] | None:
            found = [e for e in taps[2].events() if e["direction"] == "outbound"]
            return found if len(found) >= 4 else None

        denied = eventually(thief_events, 30, what="thief's tap shows its denials", mesh=mesh)
        assert [(e["status"], e["verdict"], e["backend"], e["path"]) for e in denied] == [
            (403, "denied", "shop/web-v1", "/books/x")
        ] * 4
        inbound = [e for e in taps[1].events() if e["direction"] == "inbound"]
        allowed = [e for e in inbound if e["peer"] == CALLER_ID]
        assert sorted((e["path"], e["status"], e["verdict"]) for e in allowed) == sorted(
            (path, 200, "allowed") for path, _, _ in to_v1
        )
        for event in allowed:
            match = "health" if event["path"] == "/health" else "books"
            assert event["route"] == f"HTTPRouteGroup/shop/web-routes#{match}"
        assert len(inbound) == len(allowed)  # nothing of thief's reached web-v1

        # Per-route stat: exactly what each backend answered, per match; denials apart.
        expected = {
            w: Counter("health" if p == "/health" else "books" for p, _, who in answered if who == w)
            for w in ("web-v1", "web-v2")
        }

        def routes_match() -> dict[str, Any] | None:
            found = {w: _route_counts(mesh, w) for w in ("web-v1", "web-v2")}
            for workload, counts in expected.items():
                want = {route: (str(n), "0") for route, n in counts.items()}
                if found[workload]["routes"] != want:
                    return None
            return found if sum(f["denied"] for f in found.values()) == 4 else None

        found = eventually(routes_match, 40, what="per-route stat equal to what was sent", mesh=mesh)
        assert (found["web-v1"]["denied"], found["web-v2"]["denied"]) == (4, 0)
        table = smimesh(mesh, "stat", "deploy", "web-v1", "-n", "shop", "--routes", "-w", "5m")
        assert "shop/web-routes#books" in table.stdout and "(denied by RBAC)" in table.stdout, table.stdout
    finally:
        for tap in taps:
            tap.stop()
        try:
            if taps:
                for instance in ("caller-0", "web-v1-0", "thief-0"):
                    eventually(lambda i=instance: tap_switch(mesh, i) == "0", 30, what="tap off", mesh=mesh)
        finally:
            mesh.stop()
