"""End to end: UDP service ports under `smimesh up`, with real Envoy sidecars and real UDP workloads.

A UDPRoute lets `app` send to `metrics-a` (port 9000) but not `metrics-b` (port 9001, same service
account); `other` is named by no TrafficTarget. UDP has no mTLS in Envoy, so access is enforced at
the caller: only an allowed caller's sidecar listens on the announced `SMIMESH_UDP_*` port.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.telemetry.edges import readings_from_sample
from smimesh.telemetry.scrape import StatsSample, scrape
from smimesh.testing.access_e2e import WORKLOAD, Mesh, eventually, http_workload, rows, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]


def udp_workload(name: str, sa: str, port: int, namespace: str = "shop") -> str:
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}}}}}
spec:
  serviceAccount: {sa}
  command: [{sys.executable}, {WORKLOAD}, udp-echo]
  ports: [{{name: stats, containerPort: {port}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: stats, port: {port}, targetPort: stats, protocol: UDP}}]
"""


ALLOW_9000 = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: UDPRoute
metadata: {name: port-9000, namespace: shop}
spec: {matches: {ports: [9000]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: app-to-metrics, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: metrics, namespace: shop}
  rules: [{kind: UDPRoute, name: port-9000}]
  sources: [{kind: ServiceAccount, name: app, namespace: shop}]
"""
UPSTREAMS = {"a": "metrics-a.shop:9000", "b": "metrics-b.shop:9001"}


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    tmp = tmp_path_factory.mktemp("udp")
    directory = tmp / "mesh"
    directory.mkdir()
    workloads = [http_workload("app"), http_workload("other")]
    workloads += [udp_workload("metrics-a", "metrics", 9000), udp_workload("metrics-b", "metrics", 9001)]
    write(directory / "workloads.yaml", "\n---\n".join(workloads))
    write(directory / "access.yaml", ALLOW_9000)
    running = Mesh(directory, tmp / "run", tmp / "contexts.json").start()
    try:
        running.wait_ready(expected_instances=4)
        yield running
    finally:
        assert running.stop() == 0


def udp_echo(address: str, text: str = "hello", attempts: int = 3, wait: float = 1.0) -> str:
    """The answer to one datagram sent to `address` ("" if none came back after a few tries)."""
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait)
        for _ in range(attempts):
            try:
                sock.sendto(text.encode(), (host, int(port)))
                return sock.recvfrom(65535)[0].decode()
            except OSError:  # timeout, or ICMP port unreachable reported on the next call
                continue
    return ""


def announced(mesh: Mesh, instance: str, which: str) -> str:
    return str(rows(mesh)[instance]["udp_upstreams"][UPSTREAMS[which]])  # type: ignore[index]


def udp_listeners(mesh: Mesh, instance: str) -> set[str]:
    admin = rows(mesh)[instance]["admin"]
    names = httpx.get(f"http://{admin}/listeners", timeout=5).text.split()
    return {line.split("::", 1)[0] for line in names if line.startswith("outbound_udp|")}


def explain(mesh: Mesh, workload: str, to: str, *extra: str, manifests: Path | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "smimesh", "explain", "-f", str(manifests or mesh.directory)]
    command += ["--from", workload, "--to", to, *extra]
    answer = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=mesh.env)
    return {"stdout": answer.stdout, "stderr": answer.stderr, "exit": answer.returncode}


def explain_allows(mesh: Mesh, workload: str, to: str) -> bool:
    return bool(json.loads(explain(mesh, workload, to, "-o", "json")["stdout"])["allowed"])


def explain_live(mesh: Mesh, workload: str, to: str) -> dict[str, Any]:
    answer = explain(mesh, workload, to, "--live", "--api-addr", mesh.api, "-o", "json")
    parsed: dict[str, Any] = json.loads(answer["stdout"])
    return parsed


def test_the_app_is_told_its_udp_upstreams(mesh: Mesh) -> None:
    app = rows(mesh)["app-0"]
    env = httpx.get(f"http://127.0.0.1:{app['ports']['http']}/", timeout=5).json()["udp_upstreams"]  # type: ignore[index]
    assert env == {
        "SMIMESH_UDP_METRICS_A_SHOP_9000": announced(mesh, "app-0", "a"),
        "SMIMESH_UDP_METRICS_B_SHOP_9001": announced(mesh, "app-0", "b"),
    }


def test_allowed_port_is_echoed_by_the_backend_and_the_other_is_not(mesh: Mesh) -> None:
    assert udp_listeners(mesh, "app-0") == {"outbound_udp|shop|metrics-a|9000"}
    assert udp_echo(announced(mesh, "app-0", "a"), "ping 1") == "metrics-a-0 ping 1"
    assert udp_echo(announced(mesh, "app-0", "b"), "ping 2") == ""


def test_a_caller_no_traffic_target_names_gets_no_udp_listener(mesh: Mesh) -> None:
    assert udp_listeners(mesh, "other-0") == set()
    assert udp_echo(announced(mesh, "other-0", "a")) == ""


def test_explain_agrees_with_the_sidecars(mesh: Mesh) -> None:
    cases = [
        ("app", "a", "metrics-a.shop:9000"),
        ("app", "b", "metrics-b.shop:9001"),
        ("other", "a", "metrics-a.shop:9000"),
    ]
    for workload, which, to in cases:
        echoed = udp_echo(announced(mesh, f"{workload}-0", which), "are you there") != ""
        assert explain_allows(mesh, workload, to) is echoed, (workload, to, echoed)


def test_status_lists_udp_upstreams_apart_from_tcp(mesh: Mesh) -> None:
    app = rows(mesh)["app-0"]
    assert set(app["udp_upstreams"]) == set(UPSTREAMS.values())  # type: ignore[arg-type]
    assert not any(key.endswith("/udp") for key in app["tcp_upstreams"])  # type: ignore[attr-defined]


def test_explain_live_reads_the_callers_udp_listener(mesh: Mesh) -> None:
    assert udp_echo(announced(mesh, "app-0", "a"), "counted") == "metrics-a-0 counted"
    cases = [("app", "metrics-a.shop:9000", True), ("app", "metrics-b.shop:9001", False)]
    cases.append(("other", "metrics-a.shop:9000", False))
    for workload, to, holds in cases:
        answer = explain_live(mesh, workload, to)
        (row,) = answer["live"]
        assert row["instance"] == f"{workload}-0" and row["side"] == "caller", row
        assert row["holds_listener"] is holds and row["expects_listener"] is holds, row
        assert row["agrees"] and answer["allowed"] is holds, row
    (allowed,) = explain_live(mesh, "app", "metrics-a.shop:9000")["live"]
    assert allowed["counters"]["downstream_sess_rx_datagrams"] >= 1, allowed


def test_explain_live_text_names_the_caller_listener(mesh: Mesh) -> None:
    answer = explain(mesh, "app", "metrics-b.shop:9001", "--live", "--api-addr", mesh.api)
    assert answer["exit"] == 1, answer
    assert "live (the running caller sidecars):" in answer["stdout"], answer
    assert "app-0 (caller): does not hold UDP listener outbound_udp|shop|metrics-b|9001" in answer["stdout"]
    assert "matches the manifests" in answer["stdout"] and "DIFFERS" not in answer["stdout"]


def test_explain_live_says_when_the_callers_differ_from_the_manifests(mesh: Mesh, tmp_path: Path) -> None:
    """Manifests that also allow port 9001, asked against the running mesh that does not."""
    (tmp_path / "workloads.yaml").write_text((mesh.directory / "workloads.yaml").read_text())
    write(tmp_path / "access.yaml", ALLOW_9000.replace("ports: [9000]", "ports: [9000, 9001]"))
    live = ("--live", "--api-addr", mesh.api)
    answer = explain(mesh, "app", "metrics-b.shop:9001", *live, "-o", "json", manifests=tmp_path)
    (row,) = json.loads(answer["stdout"])["live"]
    assert row["expects_listener"] and not row["holds_listener"] and not row["agrees"], row
    text = explain(mesh, "app", "metrics-b.shop:9001", *live, manifests=tmp_path)["stdout"]
    assert "app-0 (caller): does not hold UDP listener outbound_udp|shop|metrics-b|9001" in text, text
    assert "DIFFERS from the manifests" in text, text


def test_udp_traffic_is_not_in_the_traffic_metrics(mesh: Mesh) -> None:
    """Real sidecars after real datagrams: Envoy counts them, the SMI metrics do not (docs/metrics.md)."""
    assert udp_echo(announced(mesh, "app-0", "a"), "metrics") == "metrics-a-0 metrics"
    admin = str(rows(mesh)["app-0"]["admin"])
    udp_stats = httpx.get(f"http://{admin}/stats", params={"filter": r"^udp\."}, timeout=5).text
    assert "downstream_sess_rx_datagrams: 0" not in udp_stats and "datagrams" in udp_stats, udp_stats
    for instance in ("app-0", "metrics-a-0"):
        host, _, port = str(rows(mesh)[instance]["admin"]).rpartition(":")
        sample = asyncio.run(scrape_sidecar(host, int(port)))
        assert not [name for name in sample.counters if "udp" in name], sample.counters
        readings = readings_from_sample(f"{instance}.shop", sample)
        assert all(r.success == r.failure == 0 for r in readings.values()), readings
    time.sleep(2.5)  # a few scrape intervals: the collector has seen the datagrams' stats by now
    api = f"http://{mesh.api}/apis/metrics.smi-spec.io/v1alpha1/namespaces/shop"
    edges = httpx.get(f"{api}/deployments/app/edges", params={"window": "5m"}, timeout=10).json()
    assert [e for e in edges["items"] if e["edge"]["resource"]["name"].startswith("metrics")] == []
    backend = httpx.get(f"{api}/services/metrics-a", params={"window": "5m"}, timeout=10).json()
    assert {m["name"]: m["value"] for m in backend["metrics"]}["success_count"] == "0", backend


async def scrape_sidecar(host: str, admin_port: int) -> StatsSample:
    async with httpx.AsyncClient() as client:
        return await scrape(client, host, admin_port)


def test_deleting_the_traffic_target_removes_the_listener(mesh: Mesh) -> None:
    address = announced(mesh, "app-0", "a")
    (mesh.directory / "access.yaml").unlink()
    eventually(lambda: not udp_listeners(mesh, "app-0"), 15, what="UDP listener removed", mesh=mesh)
    assert udp_echo(address) == ""
    write(mesh.directory / "access.yaml", ALLOW_9000)
    eventually(lambda: udp_echo(address, "back") == "metrics-a-0 back", 15, what="echo again", mesh=mesh)
