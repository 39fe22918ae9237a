"""The supervisor with plain processes (no Envoy): start, restart with backoff, scale, stop, no orphans."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from smimesh.local.plan import PortSpec, WorkloadSpec, desired_instances
from smimesh.local.rundir import RunDir
from smimesh.local.supervisor import Supervisor
from smimesh.settings import Settings
from smimesh.testing import workloads

WORKLOAD_SCRIPT = str(workloads.HERE)
FAST = Settings(restart_backoff_initial_s=0.2, restart_backoff_max_s=1.0)


def server_workload(tmp_path: Path, replicas: int, name: str = "web") -> WorkloadSpec:
    return WorkloadSpec(
        namespace="shop",
        name=name,
        service_account="web",
        replicas=replicas,
        command=(sys.executable, WORKLOAD_SCRIPT, "serve"),
        cwd=tmp_path,
        env=(("VERSION", "v7"),),
        ports=(PortSpec("http", 8080),),
    )


async def get_json(port: int) -> dict[str, str]:
    def fetch() -> dict[str, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=2) as response:
            return dict(json.loads(response.read()))

    return await asyncio.to_thread(fetch)


async def eventually(condition, within: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while True:
        try:
            result = await condition()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def process_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def supervisor(tmp_path: Path):  # type: ignore[no-untyped-def]
    messages: list[str] = []
    sup = Supervisor(RunDir(tmp_path / "run").create(), settings=FAST, announce=messages.append, grace_s=1.0)
    sup.messages = messages  # type: ignore[attr-defined]
    return sup


async def test_instances_serve_with_their_identity_and_logs(supervisor: Supervisor, tmp_path: Path) -> None:
    running = await supervisor.reconcile(desired_instances([server_workload(tmp_path, 2)]))
    try:
        for run in running:
            body = await eventually(lambda run=run: get_json(run.ports.app["http"]))
            assert body["pod"] == run.spec.name and body["version"] == "v7" and body["namespace"] == "shop"
        log = supervisor.run_dir.log_path("shop", "web-0").read_text()
        assert "starting web-0" in log and "serving on" in log
    finally:
        await supervisor.stop_all()


async def test_killed_instance_is_restarted_and_announced(supervisor: Supervisor, tmp_path: Path) -> None:
    [run] = await supervisor.reconcile(desired_instances([server_workload(tmp_path, 1)]))
    try:
        port = run.ports.app["http"]
        await eventually(lambda: get_json(port))
        first_pid = run.app.status.pid
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        body = await eventually(lambda: get_json(port))
        assert body["pod"] == "web-0"
        assert run.app.status.pid != first_pid and run.app.status.restarts == 1
        assert any("web-0 exited (killed by SIGKILL); restarting in 0.2s" in m for m in supervisor.messages)  # type: ignore[attr-defined]
    finally:
        await supervisor.stop_all()


async def test_a_command_that_cannot_start_is_retried_with_growing_backoff(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    broken = WorkloadSpec(
        namespace="shop",
        name="broken",
        service_account="x",
        replicas=1,
        command=("./no-such-program",),
        cwd=tmp_path,
    )
    await supervisor.reconcile(desired_instances([broken]))
    try:
        await eventually(lambda: asyncio.sleep(0, result=len(supervisor.messages) >= 3), within=10)  # type: ignore[attr-defined]
        messages = supervisor.messages  # type: ignore[attr-defined]
        assert "could not start" in messages[0] and "no such executable" in messages[0]
        assert "restarting in 0.2s" in messages[0] and "restarting in 0.4s" in messages[1]
    finally:
        await supervisor.stop_all()


async def test_scaling_starts_and_stops_instances_and_stop_all_leaves_nothing(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    running = await supervisor.reconcile(desired_instances([server_workload(tmp_path, 3)]))
    for run in running:
        await eventually(lambda run=run: get_json(run.ports.app["http"]))
    pids = {r.spec.name: r.app.status.pid for r in running}
    assert all(pids.values())
    running = await supervisor.reconcile(desired_instances([server_workload(tmp_path, 1)]))
    assert [r.spec.name for r in running] == ["web-0"]
    assert running[0].app.status.pid == pids["web-0"] and alive(pids["web-0"])  # scaling left it alone
    assert running[0].spec.workload.replicas == 1
    assert not alive(pids["web-2"]) and not alive(pids["web-1"])
    await supervisor.stop_all()
    assert not alive(pids["web-0"])


async def test_changed_workload_restarts_its_instances(supervisor: Supervisor, tmp_path: Path) -> None:
    [run] = await supervisor.reconcile(desired_instances([server_workload(tmp_path, 1)]))
    port = run.ports.app["http"]
    await eventually(lambda: get_json(port))
    changed = dataclasses.replace(server_workload(tmp_path, 1), env=(("VERSION", "v8"),))
    [run] = await supervisor.reconcile(desired_instances([changed]))
    try:
        assert run.ports.app["http"] == port  # same ports across the restart
        body = await eventually(lambda: get_json(port))
        assert body["version"] == "v8"
    finally:
        await supervisor.stop_all()


HOLDER = textwrap.dedent("""
    import asyncio, json, sys
    from pathlib import Path
    from smimesh.local.guardian import Guardian
    from smimesh.local.plan import PortSpec, WorkloadSpec, desired_instances
    from smimesh.local.rundir import RunDir
    from smimesh.local.supervisor import Supervisor
    from smimesh.settings import Settings

    async def main():
        tmp = Path(sys.argv[1])
        sup = Supervisor(RunDir(tmp / "run").create(), settings=Settings(), announce=print,
                         guardian=Guardian().start())
        # a shell wrapper that forks: its child (the grandchild of this process) must go too
        spec = WorkloadSpec(namespace="ns", name="w", service_account="sa", replicas=3,
                            command=("sh", "-c", "sleep 300 & wait"), cwd=tmp)
        running = await sup.reconcile(desired_instances([spec]))
        await asyncio.sleep(0.5)
        print(json.dumps([r.app.status.pid for r in running]), flush=True)
        await asyncio.sleep(300)

    asyncio.run(main())
""")


def test_sigkill_of_the_parent_leaves_no_orphans(tmp_path: Path) -> None:
    # `with`: the pipe is closed when the holder is gone (no ResourceWarning)
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            pids = json.loads(holder.stdout.readline())
            assert len(pids) == 3 and all(alive(pid) for pid in pids)
            pids += [p for pid in pids for p in process_group(pid) if p != pid]
            assert len(pids) == 6, "each shell should have started its sleep"
        finally:
            holder.kill()
    deadline = time.monotonic() + 1.0
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [pid for pid in pids if alive(pid)], "children outlived a SIGKILLed parent"


async def test_a_crash_shows_the_last_stderr_lines_even_when_a_grandchild_holds_stderr(
    supervisor: Supervisor, tmp_path: Path
) -> None:
    script = "sleep 300 & echo to-stdout; for i in 1 2 3 4 5 6 7; do echo line $i >&2; done; exit 3"
    crashing = dataclasses.replace(server_workload(tmp_path, 1, "crash"), command=("sh", "-c", script))
    [run] = await supervisor.reconcile(desired_instances([crashing]))
    try:
        await eventually(lambda: asyncio.sleep(0, result=len(supervisor.messages) >= 2), within=10)  # type: ignore[attr-defined]
        first, second = supervisor.messages[:2]  # type: ignore[attr-defined]
        assert first.startswith("crash-0 exited (exit code 3); restarting in 0.2s (restart 1)")
        assert first.endswith("last lines of its stderr:\n" + "\n".join(f"  | line {i}" for i in range(3, 8)))
        assert second.endswith("its stderr ended as on the previous exit")
        assert run.app.status.stderr_tail[-1] == "line 7"
        log = supervisor.run_dir.log_path("shop", "crash-0").read_text()
        assert "to-stdout" in log and "line 1" in log  # the log keeps everything
    finally:
        await supervisor.stop_all()


async def test_an_app_that_does_not_listen_is_reported_with_its_port(tmp_path: Path) -> None:
    said: list[str] = []
    settings = dataclasses.replace(FAST, not_listening_after_s=0.3)
    supervisor = Supervisor(RunDir(tmp_path / "run").create(), settings=settings, announce=said.append)
    deaf = dataclasses.replace(server_workload(tmp_path, 1), command=("sleep", "300"))
    [run] = await supervisor.reconcile(desired_instances([deaf]))
    try:
        await eventually(lambda: asyncio.sleep(0, result=bool(run.app.status.note)), within=10)
        port = run.ports.app["http"]
        expected = f"is not listening on 127.0.0.1:{port} ($PORT, containerPort 8080) after 0.3 s"
        assert run.app.status.note.startswith(expected) and run.app.status.state == "starting"
        assert said == [f"web-0 {run.app.status.note}"]
        changed = dataclasses.replace(deaf, command=(sys.executable, WORKLOAD_SCRIPT, "serve"))
        assert supervisor.relaunches(desired_instances([changed])) == {"web-0.shop": ["command"]}
    finally:
        await supervisor.stop_all()
