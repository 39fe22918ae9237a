"""End to end: leaf certificates living seconds rotate under continuous traffic with zero failed requests."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from smimesh.identity import create_root, save_root
from smimesh.testing.access_e2e import WORKLOAD, Mesh, eventually, http_workload, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

ALLOW = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: all, namespace: shop}
spec: {matches: [{name: all, pathRegex: ".*", methods: ["*"]}]}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: client-to-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: shop}
  rules: [{kind: HTTPRouteGroup, name: all}]
  sources: [{kind: ServiceAccount, name: client, namespace: shop}]
"""
CLIENT = f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: client, namespace: shop, labels: {{app: client}}}}
spec:
  serviceAccount: client
  command: [{sys.executable}, {WORKLOAD}, client, "http://web.shop/", --rate, "20", --stats, stats.out]
"""


def _serials(admin: str) -> set[str]:
    certs = httpx.get(f"http://{admin}/certs", timeout=5).json()["certificates"]
    return {c["cert_chain"][0]["serial_number"] for c in certs if c.get("cert_chain")}


def test_leaves_rotate_under_traffic_without_a_failed_request(tmp_path: Path) -> None:
    directory = tmp_path / "mesh"
    directory.mkdir()
    write(directory / "mesh.yaml", "\n---\n".join([http_workload("web"), CLIENT, ALLOW]))
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json")
    mesh.env["SMIMESH_LEAF_LIFETIME_S"] = "3"  # renewed at about half-life: every ~1.5 s
    mesh.start()
    try:
        rows = {r["instance"]: r for r in mesh.wait_ready(expected_instances=2)}
        stats = directory / "stats.out"
        eventually(lambda: json.loads(stats.read_text())["ok"] > 5, 20, what="traffic", mesh=mesh)
        before = json.loads(stats.read_text())  # start-up (an app not listening yet) is not rotation
        seen: set[str] = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen |= _serials(str(rows["web-0"]["admin"]))
            time.sleep(0.5)
        totals = json.loads(stats.read_text())
        assert len(seen) >= 3, seen  # several generations of web's leaf were served over SDS
        assert totals["requests"] - before["requests"] > 100, totals
        assert totals["failed"] == before["failed"], totals
    finally:
        assert mesh.stop() == 0


def test_the_root_rotates_under_traffic_without_a_failed_request(tmp_path: Path) -> None:
    directory, run = tmp_path / "mesh", tmp_path / "run"
    directory.mkdir()
    write(directory / "mesh.yaml", "\n---\n".join([http_workload("web"), CLIENT, ALLOW]))
    # A root that lives 30 s: smimesh rotates a root it manages at 80% of its life (here after ~24 s).
    save_root(
        run, create_root(trust_domain="cluster.local", now=datetime.now(UTC), lifetime=timedelta(seconds=30))
    )
    mesh = Mesh(directory, run, tmp_path / "contexts.json")
    mesh.env["SMIMESH_LEAF_LIFETIME_S"] = "4"  # distribute 1 s, overlap 2 s (scaled to the leaf)
    mesh.start()
    try:
        mesh.wait_ready(expected_instances=2)
        stats = directory / "stats.out"
        eventually(lambda: json.loads(stats.read_text())["ok"] > 5, 20, what="traffic", mesh=mesh)
        before = json.loads(stats.read_text())
        first = mesh.status()["security"]["root"]["fingerprint"]

        def rotated() -> bool:
            root = mesh.status()["security"]["root"]
            return root["rotations"] >= 1 and root["phase"] == "steady" and root["fingerprint"] != first

        eventually(rotated, 60, what="a completed root rotation", mesh=mesh)
        time.sleep(2)  # traffic keeps flowing on the new root alone
        totals = json.loads(stats.read_text())
        assert totals["requests"] - before["requests"] > 100, totals
        assert totals["failed"] == before["failed"], totals
    finally:
        assert mesh.stop() == 0
