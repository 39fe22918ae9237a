"""The SMI metrics API of a real `smimesh up`: the sidecars the mesh generated, scraped by the runtime.

A caller workload and a backend (`web-v1`), allowed by a TrafficTarget. The test sends 100 requests
through the caller's sidecar (its HTTP_PROXY): 10 answered 500 by the backend, 20 delayed 50 ms.
The API must count exactly that on the caller's edge (client side), on the backend workload
(server side) and on the service; `smimesh stat` must show it too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.testing.up import ACCESS, CALLER, METRICS_PREFIX, Mesh, backend, eventually, metric_counts, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(240)]


def test_metrics_of_a_running_mesh(tmp_path: Path) -> None:
    directory = tmp_path / "shop"
    directory.mkdir()
    write(directory / "caller.yaml", CALLER)
    write(directory / "web.yaml", backend("web-v1", "v1"))
    write(directory / "access.yaml", ACCESS)
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json").start()
    try:
        mesh.wait_ready(expected_instances=2)
        paths = ["/?status=500"] * 10 + ["/?delay=0.05"] * 20 + ["/"] * 70
        with httpx.Client(proxy=mesh.proxy("caller-0"), timeout=10) as client:
            statuses = [client.get(f"http://web-v1.shop{path}").status_code for path in paths]
        assert statuses.count(500) == 10 and statuses.count(200) == 90, statuses
        api = f"http://{mesh.api}{METRICS_PREFIX}"

        def edge() -> dict[str, Any] | None:
            items = httpx.get(
                f"{api}/namespaces/shop/deployments/caller/edges", params={"window": "5m"}
            ).json()
            found = [i for i in items["items"] if i["edge"]["direction"] == "to"]
            return found[0] if found and metric_counts(found[0]) == ("90", "10") else None

        sent = eventually(edge, 30, what="the caller's edge counted 100 requests", mesh=mesh)
        assert sent["edge"]["resource"] == {"kind": "Deployment", "namespace": "shop", "name": "web-v1"}
        server = httpx.get(f"{api}/namespaces/shop/deployments/web-v1", params={"window": "5m"}).json()
        service = httpx.get(f"{api}/namespaces/shop/services/web-v1", params={"window": "5m"}).json()
        assert metric_counts(server) == metric_counts(service) == ("90", "10")
        command = ["stat", "deploy", "-n", "shop", "-w", "5m", "--api-addr", mesh.api]
        stat = subprocess.run(
            [sys.executable, "-m", "smimesh", *command],
            capture_output=True,
            text=True,
            env=mesh.env,
            timeout=60,
        )
        row = next(line.split() for line in stat.stdout.splitlines() if "web-v1" in line)
        assert row[:3] == ["shop", "web-v1", "90.0%"] and row[-1] == "100", stat.stdout + stat.stderr
    finally:
        assert mesh.stop() == 0, mesh.output()[-3000:]
