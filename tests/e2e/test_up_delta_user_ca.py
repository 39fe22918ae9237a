"""`smimesh up --xds-mode delta --ca-cert --ca-key`: sidecars on incremental xDS, with the mesh's
certificates signed by a user's intermediate CA.

A small mesh (a caller and `web-v1`, allowed by a TrafficTarget): every sidecar's bootstrap asks for
DELTA_GRPC, every sidecar reaches SYNCED, requests cross two Envoys over mTLS, and the certificate
the backend's sidecar presents was issued by the user's CA, whose key never lands in the run dir.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from smimesh.testing.up import ACCESS, CALLER, Mesh, backend, write
from smimesh.testing.user_pki import write_user_ca

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(180)]


class MeshWithFlags(Mesh):
    """The harness's `smimesh up`, with extra command-line flags."""

    def __init__(self, directory: Path, run_dir: Path, context_file: Path, flags: list[str]) -> None:
        super().__init__(directory, run_dir, context_file)
        self.flags = flags

    def start(self) -> Mesh:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "smimesh", "up", str(self.directory), "--api-addr", self.api,
                 "--run-dir", str(self.run_dir), *self.flags],
                stdout=log, stderr=subprocess.STDOUT, env=self.env,
            )  # fmt: skip
        return self


def test_delta_sidecars_with_a_user_ca_sync_and_carry_traffic(tmp_path: Path) -> None:
    directory, run_dir = tmp_path / "shop", tmp_path / "run"
    directory.mkdir()
    write(directory / "caller.yaml", CALLER)
    write(directory / "web.yaml", backend("web-v1", "v1"))
    write(directory / "access.yaml", ACCESS)
    cert, key = write_user_ca(tmp_path / "pki", datetime.now(UTC))
    flags = ["--xds-mode", "delta", "--ca-cert", str(cert), "--ca-key", str(key)]
    mesh = MeshWithFlags(directory, run_dir, tmp_path / "contexts.json", flags).start()
    try:
        rows = mesh.wait_ready(expected_instances=2)  # every sidecar SYNCED
        for row in rows:
            bootstrap = json.loads((run_dir / "bootstrap" / "shop" / f"{row['instance']}.json").read_text())
            assert bootstrap["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
            assert bootstrap["stats_flush_interval"] == "1s"  # the default scrape interval
        with httpx.Client(proxy=mesh.proxy("caller-0"), timeout=10) as client:
            statuses = [client.get("http://web-v1.shop/").status_code for _ in range(20)]
        assert statuses == [200] * 20
        web_admin = next(r["admin"] for r in rows if r["workload"] == "web-v1")
        certs = httpx.get(f"http://{web_admin}/certs", timeout=5).json()["certificates"]
        issuers = {c["cert_chain"][0]["subject_alt_names"][0]["uri"] for c in certs if c.get("cert_chain")}
        assert "spiffe://cluster.local/ns/shop/sa/web" in issuers
        trusted = {int(ca["serial_number"], 16) for c in certs for ca in c.get("ca_cert", [])}
        user_root = x509.load_pem_x509_certificates(cert.read_bytes())[-1]
        assert trusted == {user_root.serial_number}  # peers are checked against the user's root only
        assert mesh.status()["security"]["root"]["source"] == "user (--ca-cert)"
        assert not (run_dir / "ca").exists()
    finally:
        assert mesh.stop() == 0, mesh.output()[-3000:]
