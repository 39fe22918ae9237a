"""End to end: the modes a MeshConfig sets: `open` traffic policy; `audit` + `permissive` per namespace."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from smimesh.testing.access_e2e import Mesh, eventually, get, http_workload, inbound_address, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

CONFIG = """
apiVersion: smimesh.io/v1alpha1
kind: MeshConfig
metadata: {{name: mesh}}
spec:
  trafficPolicy: {policy}
  namespaces:
    shop: {{audit: {audit}, mtls: {mtls}}}
"""


def _start(tmp_path: Path, policy: str, audit: str, mtls: str) -> Mesh:
    directory = tmp_path / "mesh"
    directory.mkdir()
    write(directory / "workloads.yaml", "\n---\n".join(http_workload(n) for n in ("web", "other")))
    config = tmp_path / "mesh-config.yaml"
    config.write_text(CONFIG.format(policy=policy, audit=audit, mtls=mtls))
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json")
    mesh.env["SMIMESH_MESH_CONFIG"] = str(config)
    mesh.start()
    mesh.wait_ready(expected_instances=2)
    return mesh


def test_open_traffic_policy_allows_everything_still_over_mtls(tmp_path: Path) -> None:
    mesh = _start(tmp_path, "open", "false", "strict")
    try:
        assert get(mesh.proxy("other-0"), "http://web.shop/anything", "DELETE").status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://{inbound_address(mesh, 'web-0')}/", timeout=5)
        namespaces = mesh.status()["security"]["namespaces"]
        assert namespaces[0]["traffic_policy"] == "open"
    finally:
        assert mesh.stop() == 0


def test_audit_logs_but_allows_and_permissive_accepts_plaintext(tmp_path: Path) -> None:
    mesh = _start(tmp_path, "smi", "true", "permissive")
    try:
        assert get(mesh.proxy("other-0"), "http://web.shop/would-be-denied").status_code == 200
        log = mesh.run_dir / "logs" / "shop" / "web-0.envoy.log"

        def logged() -> bool:
            text = log.read_text(errors="replace")
            return "audit=denied" in text and "spiffe://cluster.local/ns/shop/sa/other" in text

        eventually(logged, 10, what="the audit finding in the destination's log", mesh=mesh)
        plain = httpx.get(f"http://{inbound_address(mesh, 'web-0')}/plaintext", timeout=5)
        assert plain.status_code == 200  # permissive: plaintext accepted (and audited, no identity)
        row = mesh.status()["security"]["namespaces"][0]
        assert (row["audit"], row["mtls"]) == (True, "permissive")
    finally:
        assert mesh.stop() == 0


def test_a_saved_mesh_config_changes_the_modes_live_and_a_bad_edit_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    mesh = _start(tmp_path, "smi", "false", "strict")
    config = tmp_path / "mesh-config.yaml"
    proxy = mesh.proxy("other-0")
    try:
        assert get(proxy, "http://web.shop/").status_code == 403  # smi: no TrafficTarget allows other

        write(config, CONFIG.format(policy="open", audit="false", mtls="strict"))
        eventually(lambda: get(proxy, "http://web.shop/").status_code == 200, 20, what="open", mesh=mesh)
        assert "mesh modes changed (mesh-config.yaml): trafficPolicy smi -> open" in mesh.output()
        assert mesh.status()["security"]["traffic_policy"] == "open"

        write(config, CONFIG.format(policy="opne", audit="false", mtls="strict"))
        eventually(
            lambda: "last good mesh modes stay in force" in mesh.output(), 20, what="report", mesh=mesh
        )
        output = mesh.output()
        assert f"{config}:6: error SM6101: trafficPolicy must be one of smi, open" in output, output[-3000:]
        assert "stay in force (trafficPolicy open, mtls strict" in output
        assert get(proxy, "http://web.shop/").status_code == 200  # the last good modes: still open

        write(config, CONFIG.format(policy="smi", audit="false", mtls="permissive"))
        eventually(lambda: get(proxy, "http://web.shop/").status_code == 403, 20, what="smi again", mesh=mesh)
        assert "trafficPolicy open -> smi; shop: mtls strict -> permissive" in mesh.output()
        assert mesh.status()["security"]["namespaces"][0]["mtls"] == "permissive"
    finally:
        assert mesh.stop() == 0
