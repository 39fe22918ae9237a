"""`smimesh up --metrics-backend prometheus`: the SMI metrics API of a real mesh answered by a real
Prometheus (Debian's `prometheus`), started the way `smimesh up` tells a user to, with the scrape
config and targets file it writes into the run directory.

100 requests through the caller's sidecar, 10 answered 500: the API (edges, deployments, services)
and `smimesh stat` must count exactly what the built-in backend counts for the same traffic
(`test_metrics_smimesh_up.py`): 90 successes, 10 failures.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.testing.net import free_port
from smimesh.testing.up import ACCESS, CALLER, METRICS_PREFIX, Mesh, backend, eventually, metric_counts, write

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.envoy,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's `prometheus` (apt-get install prometheus)"),
]


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


@contextmanager
def prometheus(config: Path, port: int, workdir: Path) -> Iterator[None]:
    log = (workdir / "prometheus.log").open("w")
    process = subprocess.Popen(
        [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield
    finally:
        process.kill()
        process.wait(timeout=10)
        log.close()


def scraped_targets(url: str) -> int:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": 'up{smimesh_instance!=""} == 1'}, timeout=5)
    return len(answer.json()["data"]["result"])


def test_the_metrics_api_of_smimesh_up_reads_prometheus(tmp_path: Path) -> None:
    directory, port = tmp_path / "shop", free_port()
    directory.mkdir()
    write(directory / "caller.yaml", CALLER)
    write(directory / "web.yaml", backend("web-v1", "v1"))
    write(directory / "access.yaml", ACCESS)
    url = f"http://127.0.0.1:{port}"
    flags = ["--metrics-backend", "prometheus", "--prometheus-url", url]
    mesh = MeshWithFlags(directory, tmp_path / "run", tmp_path / "contexts.json", flags)
    mesh.start()
    try:
        mesh.wait_ready(expected_instances=2)
        config = tmp_path / "run" / "prometheus" / "prometheus.yml"
        eventually(
            lambda: f"--config.file={config}" in mesh.output(), 10, what="where the config is", mesh=mesh
        )
        with prometheus(config, port, tmp_path):
            eventually(
                lambda: scraped_targets(url) == 2, 60, what="prometheus scrapes both sidecars", mesh=mesh
            )
            check_counts(mesh, tmp_path)
    finally:
        assert mesh.stop() == 0, mesh.output()[-3000:]


def check_counts(mesh: Mesh, tmp_path: Path) -> None:
    paths = ["/?status=500"] * 10 + ["/"] * 90
    with httpx.Client(proxy=mesh.proxy("caller-0"), timeout=10) as client:
        statuses = [client.get(f"http://web-v1.shop{path}").status_code for path in paths]
    assert statuses.count(500) == 10 and statuses.count(200) == 90, statuses
    api = f"http://{mesh.api}{METRICS_PREFIX}"

    def edge() -> dict[str, Any] | None:
        items = httpx.get(f"{api}/namespaces/shop/deployments/caller/edges", params={"window": "5m"}).json()
        found = [i for i in items["items"] if i["edge"]["direction"] == "to"]
        return found[0] if found and metric_counts(found[0]) == ("90", "10") else None

    eventually(edge, 60, what="prometheus counted the caller's 100 requests", mesh=mesh)

    def served() -> bool:  # web-v1's sidecar is scraped on its own schedule, maybe after the caller's
        server = httpx.get(f"{api}/namespaces/shop/deployments/web-v1", params={"window": "5m"}).json()
        service = httpx.get(f"{api}/namespaces/shop/services/web-v1", params={"window": "5m"}).json()
        return metric_counts(server) == metric_counts(service) == ("90", "10")

    eventually(served, 60, what="prometheus counted web-v1's 100 requests (server side)", mesh=mesh)
    stat = subprocess.run(
        [sys.executable, "-m", "smimesh", "stat", "deploy", "-n", "shop", "-w", "5m", "--api-addr", mesh.api],
        capture_output=True, text=True, env=mesh.env, timeout=60,
    )  # fmt: skip
    row = next(line.split() for line in stat.stdout.splitlines() if "web-v1" in line)
    assert row[:3] == ["shop", "web-v1", "90.0%"] and row[-1] == "100", stat.stdout + stat.stderr
