"""`smimesh stat` and `smimesh top` against a real HTTP server serving the metrics routes.

The server's window is fed with known cumulative readings (no Envoy needed: the scrape and
attribution are covered by the real-Envoy tests); `top` runs in a real terminal (tmux) and the
test reads the screen with `capture-pane`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette

from smimesh.api.metrics_routes import routes
from smimesh.api.serve import ThreadedApiServer
from smimesh.cli.main import cli
from smimesh.mesh.model import ServiceKey
from smimesh.telemetry.edges import INBOUND, OUTBOUND, Pod, Reading, Series, Topology
from smimesh.telemetry.query import BuiltinBackend, MetricsQuery
from smimesh.telemetry.scrape import Bin
from smimesh.telemetry.window import SlidingWindow
from smimesh.testing.net import wait_until

STORE = ServiceKey("shop", "store")
TOPOLOGY = Topology(
    {
        "client-0.shop": Pod("client-0.shop", "shop", "client-0", "client", {"app": "client"}),
        "store-0.shop": Pod("store-0.shop", "shop", "store-0", "store", {"app": "store"}),
    },
    {STORE: frozenset({"store-0.shop"})},
)


def fed_window() -> SlidingWindow:
    """90 successes and 10 failures client → store, seen by both sidecars, 2 s ago.

    Latency: 50 samples in [4, 4.1) ms, 40 in [12, 13), 10 in [200, 210): p50 = 4.1, p90 = 13 and
    p99 = 200 + 10 * (99 - 90) / 10 = 209 ms (interpolated inside the bin).
    """
    window = SlidingWindow(300, 1.0)
    now = time.time() - 2
    latency = (Bin(4.0, 0.1, 50), Bin(12.0, 1.0, 40), Bin(200.0, 10.0, 10))
    for node, series in (("client-0.shop", Series(OUTBOUND, "client-0.shop", str(STORE))),
                         ("store-0.shop", Series(INBOUND, "store-0.shop", "http"))):  # fmt: skip
        window.observe(node, {series: Reading()}, now - 1)
        window.observe(node, {series: Reading(90, 10, latency)}, now)
    return window


@pytest.fixture(scope="module")
def api_addr() -> Iterator[str]:
    query = MetricsQuery(BuiltinBackend(fed_window()), lambda: TOPOLOGY)

    async def make_app() -> Starlette:
        return Starlette(routes=routes(query))

    with ThreadedApiServer(make_app) as server:
        yield server.addr


def run(api_addr: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--api-addr", api_addr])
    return result.exit_code, result.output


def test_stat_deployments_table(api_addr: str) -> None:
    code, out = run(api_addr, "stat", "deployments", "-w", "1m")
    assert code == 0, out
    store = next(line.split() for line in out.splitlines() if " store " in f" {line} ")
    assert store[:4] == ["shop", "store", "90.0%", "1.7"]  # 100 requests / 60 s
    assert store[-1] == "100"


def test_stat_edges_json(api_addr: str) -> None:
    code, out = run(api_addr, "stat", "deploy", "client", "-n", "shop", "--edges", "-o", "json")
    assert code == 0, out
    (edge,) = json.loads(out)["items"]
    assert edge["edge"]["direction"] == "to"
    assert {m["name"]: m["value"] for m in edge["metrics"]}["failure_count"] == "10"


def test_stat_mistakes_are_clear(api_addr: str) -> None:
    code, out = run(api_addr, "stat", "pods", "ghost", "-n", "shop")
    assert code != 0 and "no Pod named 'ghost'" in out and "Traceback" not in out
    code, out = run(api_addr, "stat", "deploy", "--edges")
    assert code == 2 and "--edges needs a NAME" in out
    code, out = run(api_addr, "stat", "services", "-w", "10x")
    assert code != 0 and "window '10x'" in out and "Traceback" not in out


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_top_renders_in_a_real_terminal(api_addr: str, tmp_path: Path) -> None:
    session = f"smimesh-top-{time.monotonic_ns()}"
    smimesh = f"{sys.executable} -m smimesh"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "30",
         f"env -u COLUMNS -u LINES {smimesh} top -w 1m -i 0.5 --api-addr {api_addr}; sleep 30"],
        check=True,
    )  # fmt: skip
    try:
        subprocess.run(["tmux", "resize-window", "-t", session, "-x", "150", "-y", "30"], check=False)
        try:
            wait_until(lambda: "209.0ms" in _screen(session), timeout=30, what="top's tables")
        except TimeoutError:
            raise AssertionError(f"top did not draw its tables:\n{_screen(session)}") from None
        screen = _screen(session)
        assert "Traceback" not in screen
        workloads, edges = screen.split("Edges (sent)")
        row = ["shop/store", "90.0%", "1.7", "4.1ms", "13.0ms", "209.0ms", "100"]
        assert row in [line.split() for line in workloads.splitlines()], screen
        edge_rows = [line.split() for line in edges.splitlines()]
        assert edge_rows.index(row) == edge_rows.index(["shop/client", "→"]) + 1, screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True
    ).stdout


def test_no_control_plane_is_one_clear_line() -> None:
    from smimesh.testing.net import free_port

    for args in (["stat", "pods"], ["top", "--once"]):
        result = CliRunner().invoke(cli, [*args, "--api-addr", f"127.0.0.1:{free_port()}"])
        assert result.exit_code == 1 and "no control plane at" in result.output, result.output
        assert "Traceback" not in result.output
