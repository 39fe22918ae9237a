"""The CLI as a user runs it (real processes) against a real `smimesh up`: what it prints, and its exit codes.

One mesh for the module (the shop of `smimesh.testing.up`: a client calling `web`, split 90/10 between
web-v1 and web-v2, at 2 requests a second). Covers: `delete -f FILE` (kubectl's habit), global flags
before or after the command, `top` in an 80-column terminal (tmux) and piped (table and `-o json`),
no Python reprs and one number precision in every command's output, `proxy-config` bootstrap and
split weights, and `logs` finding the run without `--run-dir`.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from smimesh.testing.net import free_port, wait_until
from smimesh.testing.up import Mesh, eventually, make_shop

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(300)]
CANARY = """\
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: canary-routes, namespace: shop}
spec:
  matches: [{name: all, pathRegex: ".*", methods: ["*"]}]
---
apiVersion: v1
kind: Service
metadata: {name: canary, namespace: shop}
spec:
  selector: {app: web, version: v2}
  ports: [{name: http, port: 80}]
"""
# A Python repr of a dict, list or tuple of strings, or a Python constant, in text meant for people.
REPR = re.compile(r"[{\[(]'|'[}\])]|': '|\bNone\b|\bTrue\b|\bFalse\b")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("cli-mesh")
    make_shop(root / "shop", 90, 10)
    running = Mesh(root / "shop", root / "run", root / "contexts.json").start()
    try:
        running.wait_ready(expected_instances=3, timeout=120)
        yield running
    finally:
        assert running.stop() == 0, running.output()[-3000:]


def smimesh(
    mesh: Mesh, *args: str, stdin: str | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smimesh", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**mesh.env, **env},
        cwd=cwd,
        timeout=60,
    )


def api(mesh: Mesh, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return smimesh(mesh, *args, "--api-addr", mesh.api, stdin=stdin)


# ---- item 10: delete -f, global flags ------------------------------------------------------------


def test_delete_f_deletes_every_object_of_the_file_and_reports_each(mesh: Mesh, tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY)
    assert api(mesh, "apply", "-f", str(canary)).returncode == 0
    done = api(mesh, "delete", "-f", str(canary))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "HTTPRouteGroup shop/canary-routes deleted",
        "Service shop/canary deleted",
    ]
    assert "canary" not in api(mesh, "get", "all").stdout
    again = api(mesh, "delete", "-f", "-", stdin=CANARY)  # gone already: each one is reported
    assert again.returncode == 1
    assert "<stdin>:1: HTTPRouteGroup/shop/canary-routes not found" in again.stderr, again.stderr
    assert "<stdin>:7: Service/shop/canary not found" in again.stderr
    assert "2 of 2 objects could not be deleted" in again.stderr and "Traceback" not in again.stderr
    assert api(mesh, "delete", "-f", "-", "--ignore-not-found", stdin=CANARY).returncode == 0


def test_delete_f_goes_on_past_an_object_it_cannot_delete(mesh: Mesh, tmp_path: Path) -> None:
    assert api(mesh, "apply", "-f", "-", stdin=CANARY).returncode == 0
    mixed = (mesh.directory / "split.yaml").read_text() + "---\n" + CANARY  # the split is a file's
    done = api(mesh, "delete", "-f", "-", stdin=mixed)
    assert done.returncode == 1
    assert "TrafficSplit/shop/web is defined by a file" in done.stderr, done.stderr
    assert done.stdout.splitlines() == [
        "HTTPRouteGroup shop/canary-routes deleted",
        "Service shop/canary deleted",
    ]
    assert "1 of 3 objects could not be deleted" in done.stderr


def test_global_flags_before_or_after_the_command(mesh: Mesh) -> None:
    after = smimesh(mesh, "get", "ts", "-n", "shop", "-o", "json", "--api-addr", mesh.api)
    before = smimesh(mesh, "--api-addr", mesh.api, "-n", "shop", "-o", "json", "get", "ts")
    assert after.returncode == before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["metadata"]["name"] == "web"
    assert before.stdout == after.stdout
    status = smimesh(mesh, "--api-addr", mesh.api, "status")
    assert status.returncode == 0 and status.stdout.startswith("mesh from "), status.stderr
    wrong = smimesh(mesh, "--run-dir", "/tmp", "validate", "-f", str(mesh.directory))
    assert wrong.returncode == 2 and "--run-dir does not apply to `smimesh validate`" in wrong.stderr
    bad = smimesh(mesh, "-o", "bogus", "--api-addr", mesh.api, "get", "ts")
    assert bad.returncode == 2 and "'bogus' is not one of" in bad.stderr


# ---- item 13: top at 80 columns and piped ----------------------------------------------------------


def _wait_for_both_edges(mesh: Mesh) -> None:
    def both() -> bool:
        out = api(mesh, "stat", "deploy", "client", "-n", "shop", "--edges", "-w", "5m").stdout
        return "web-v1" in out and "web-v2" in out

    eventually(both, 90, what="the client's edges to web-v1 and web-v2", mesh=mesh)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_top_in_an_80_column_terminal_cuts_no_name(mesh: Mesh, tmp_path: Path) -> None:
    _wait_for_both_edges(mesh)
    socket = f"smimesh-test-{time.monotonic_ns()}"
    command = (
        f"env -u COLUMNS -u LINES SMIMESH_CONTEXT_FILE={mesh.env['SMIMESH_CONTEXT_FILE']} "
        f"{sys.executable} -m smimesh top -w 5m -i 0.5 --api-addr {mesh.api}; sleep 60"
    )
    tmux = ["tmux", "-L", socket]
    subprocess.run([*tmux, "new-session", "-d", "-s", "top", "-x", "80", "-y", "40", command], check=True)
    try:

        def screen() -> str:
            return subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "top"], capture_output=True, text=True
            ).stdout

        try:
            wait_until(lambda: "shop/web-v2" in screen(), timeout=60, what="top's edges")
        except TimeoutError:
            raise AssertionError(f"top did not draw its edges:\n{screen()}") from None
        shown = screen()
        assert "…" not in shown and "Traceback" not in shown, shown
        assert max(len(line.rstrip()) for line in shown.splitlines()) <= 80
        workloads, edges = (
            [line.split() for line in part.splitlines()] for part in shown.split("Edges (sent)")
        )
        assert {"shop/client", "shop/web-v1", "shop/web-v2"} <= {row[0] for row in workloads if row}, shown
        caller = edges.index(["shop/client", "→"])
        assert {row[0] for row in edges[caller + 1 : caller + 3]} == {"shop/web-v1", "shop/web-v2"}, shown
        edge = next(row for row in edges if row[:1] == ["shop/web-v1"])
        assert re.fullmatch(r"\d+\.\d%", edge[1]) and all(re.fullmatch(r"\d+\.\dms", c) for c in edge[3:6])
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


def test_top_fits_80_columns_with_names_as_long_as_the_demos() -> None:
    from rich.console import Console

    from smimesh.cli.top import frame

    numbers = {"success_rate": 0.998, "rps": 12.3, "p50_ms": 1.2, "p90_ms": 23.4, "p99_ms": 1234.5}
    metrics = {**numbers, "requests": 12345}

    def workload(namespace: str, name: str) -> dict[str, str]:
        return {"kind": "Deployment", "namespace": namespace, "name": name}

    buyer, store = workload("bookbuyer", "bookbuyer"), workload("bookstore", "bookstore-v1")
    data = {
        "time": "2026-12-04T18:49:03Z",
        "window": "30s",
        "workloads": [{**store, **metrics}, {**workload("bookwarehouse", "bookwarehouse"), **metrics}],
        "edges": [{"from": buyer, "to": store, **metrics}],
    }
    terminal = Console(width=80, record=True, file=io.StringIO())
    terminal.print(frame(data, " — Ctrl-C to quit"))
    shown = terminal.export_text()
    assert "…" not in shown and max(len(line.rstrip()) for line in shown.splitlines()) <= 80
    for name in ("bookstore/bookstore-v1", "bookwarehouse/bookwarehouse", "bookbuyer/bookbuyer →"):
        assert name in shown, shown
    row = ["bookstore/bookstore-v1", "99.8%", "12.3", "1.2ms", "23.4ms", "1234.5ms", "12345"]
    assert [line.split() for line in shown.splitlines()].count(row) == 2, shown  # a workload, a callee


def _first_lines(mesh: Mesh, *args: str, until: int) -> list[str]:
    """Run `top` with stdout piped until it printed `until` refreshes; the lines it printed."""
    command = [sys.executable, "-m", "smimesh", "top", "-w", "5m", "-i", "0.3", "--api-addr", mesh.api]
    lines: list[str] = []
    with subprocess.Popen([*command, *args], stdout=subprocess.PIPE, text=True, env=mesh.env) as process:
        assert process.stdout is not None  # closed, with the process waited for, when the block ends
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and sum(_refresh(line) for line in lines) < until:
                line = process.stdout.readline()
                if not line:
                    break
                lines.append(line.rstrip("\n"))
        finally:
            process.terminate()
            process.wait(10)
    return lines


def _refresh(line: str) -> bool:
    return line.startswith(("smimesh top — window", "{"))


def test_top_piped_prints_a_plain_table_per_refresh(mesh: Mesh) -> None:
    _wait_for_both_edges(mesh)
    lines = _first_lines(mesh, until=3)
    assert sum(_refresh(line) for line in lines) == 3, lines
    rows = [line.split() for line in lines]
    assert ["shop/client", "→"] in rows and "shop/web-v2" in [row[0] for row in rows if row], lines
    assert all("…" not in line and "\x1b" not in line for line in lines)


def test_top_o_json_streams_one_object_per_line(mesh: Mesh) -> None:
    _wait_for_both_edges(mesh)
    lines = _first_lines(mesh, "-o", "json", until=2)
    frames = [json.loads(line) for line in lines]
    assert len(frames) == 2
    edges = {(e["from"]["name"], e["to"]["name"]): e for e in frames[-1]["edges"]}
    to_v1 = edges[("client", "web-v1")]
    assert to_v1["to"] == {"kind": "Deployment", "namespace": "shop", "name": "web-v1"}
    assert to_v1["requests"] > 0 and 0 <= to_v1["success_rate"] <= 1 and to_v1["p99_ms"] >= 0
    assert {w["name"] for w in frames[-1]["workloads"]} == {"client", "web-v1", "web-v2"}


# ---- item 13: no reprs, one precision; proxy-config; logs -----------------------------------------


def test_no_python_repr_and_one_number_precision_in_any_output(mesh: Mesh) -> None:
    _wait_for_both_edges(mesh)
    commands = [
        ["status"],
        ["get", "all", "-o", "wide"],
        ["proxy-status"],
        ["proxy-config", "client"],
        ["stat", "deploy", "-w", "5m"],
        ["stat", "deploy", "client", "-n", "shop", "--edges", "-w", "5m"],
        ["top", "--once", "-w", "5m"],
        ["explain", "--from", "shop/client", "--to", "web.shop", "-f", str(mesh.directory), "--live"],
        ["logs", "client", "--sidecar", "--tail", "0"],
    ]
    outputs = {}
    for command in commands:
        done = api(mesh, *command)
        assert done.returncode == 0, (command, done.stderr)
        outputs[" ".join(command)] = done.stdout + done.stderr
    validate = smimesh(mesh, "validate", "-f", str(mesh.directory))
    outputs["validate"] = validate.stdout + validate.stderr
    for command, text in outputs.items():
        assert not REPR.search(text), f"`smimesh {command}` printed a Python repr:\n{text}"
        assert not re.search(r"\d\.\d{6}", text), f"`smimesh {command}` printed microseconds:\n{text}"
    every = "\n".join(outputs.values())
    assert "selector app=web,version=v1 ports 80" in outputs["get all -o wide"]
    for token in re.findall(r"(?<![\w.])[\d.]+(?=ms\b|%)", every):
        assert re.fullmatch(r"\d+\.\d", token), f"{token!r}: latencies and percentages have 1 decimal"


def test_proxy_config_prints_the_bootstrap_and_split_weights(mesh: Mesh) -> None:
    bootstrap = api(mesh, "proxy-config", "client", "--type", "bootstrap")
    assert bootstrap.returncode == 0, bootstrap.stderr
    document = yaml.safe_load(bootstrap.stdout)
    assert document["node"]["id"] == "client-0.shop"
    assert document["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    assert "extensions" not in document["node"]  # Envoy's build details stay out of it
    routes = api(mesh, "proxy-config", "client", "--type", "routes")
    assert routes.returncode == 0, routes.stderr
    assert "outbound|shop|web-v1|80 weight 90 (90.0%)" in routes.stdout, routes.stdout
    assert "outbound|shop|web-v2|80 weight 10 (10.0%)" in routes.stdout


def test_logs_finds_the_run_without_run_dir(mesh: Mesh, tmp_path: Path) -> None:
    # Run elsewhere, with nothing at the address it asks first: the context file leads to the run.
    nowhere = f"127.0.0.1:{free_port()}"
    done = smimesh(mesh, "logs", "web-v1", "--tail", "5", cwd=tmp_path, SMIMESH_API_ADDR=nowhere)
    assert done.returncode == 0, done.stderr
    assert "web-v1-0 serving on" in done.stdout


def test_the_last_run_is_remembered_after_it_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smimesh.api import auth

    monkeypatch.setenv("SMIMESH_CONTEXT_FILE", str(tmp_path / "contexts.json"))
    run_dir = tmp_path / "run"
    auth.register_context("127.0.0.1:9", run_dir)
    auth.unregister_context("127.0.0.1:9", run_dir)  # what `smimesh up` does when it stops
    assert auth.registered_run_dir("127.0.0.1:9") is None
    assert auth.last_run_dir() == run_dir.resolve()
    (run_dir / "logs" / "shop").mkdir(parents=True)
    (run_dir / "logs" / "shop" / "web-0.log").write_text("hello from the last run\n")
    nowhere = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "smimesh", "logs", "web", "--api-addr", nowhere],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == "hello from the last run\n", done.stderr


def test_readme_and_docs_point_only_inside_the_repo() -> None:
    """README's paths are files of the repo; no page it sends to points outside (a path beside the clone)."""
    repo = Path(__file__).parents[2]
    for page in [repo / "README.md", *(repo / "docs").glob("*.md")]:
        text = page.read_text()
        links = [(page.parent, link) for link in re.findall(r"\]\(([^)#]+)\)", text)]  # relative to the page
        mentions = re.findall(r"`((?:\.\./|\w[\w.-]*/)[\w./-]+\.\w+)`", text)  # paths written from the root
        for base, link in links + [(repo, mention) for mention in mentions]:
            if "://" in link or link.startswith("smimesh-demo/"):
                continue  # a web page, or a file the demo writes
            target = (base / link).resolve()
            assert target.is_relative_to(repo), f"{page.name} points outside the repo: {link}"
            if page.name == "README.md":
                assert target.exists(), f"README.md points at {link}, which is not a file of the repo"
