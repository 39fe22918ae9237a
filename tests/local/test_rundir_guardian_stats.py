"""Run directory layout and log lookup; the guardian kills registered groups on EOF; demo stats windows."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from smimesh.demo import copy_to, manifests
from smimesh.demo.stats import ClientWindow, DemoStats
from smimesh.errors import SmimeshError
from smimesh.local.guardian import Guardian
from smimesh.local.rundir import RunDir


def test_run_dir_is_private_and_bootstrap_files_are_0600(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run").create()
    assert stat.S_IMODE(os.stat(run.path).st_mode) == 0o700
    path = run.bootstrap_path("ns", "a-0")
    run.write_private(path, "{}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    run.write_up_info({"pid": 1})
    assert run.read_up_info() == {"pid": 1}


def test_find_logs_by_instance_workload_node_id_and_sidecar(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run").create()
    for name in ("web-0", "web-1", "web-canary-0"):
        for sidecar in (False, True):
            path = run.log_path("shop", name, sidecar=sidecar)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)
    names = lambda paths: [p.name for p in paths]  # noqa: E731
    assert names(run.find_logs("web")) == ["web-0.log", "web-1.log"]  # not web-canary-0
    assert names(run.find_logs("web-1")) == ["web-1.log"]
    assert names(run.find_logs("web-1.shop", sidecar=True)) == ["web-1.envoy.log"]
    assert names(run.find_logs("web-canary")) == ["web-canary-0.log"]
    assert run.find_logs("nothing") == []
    with pytest.raises(SmimeshError):
        RunDir(tmp_path / "elsewhere").find_logs("web")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_guardian_kills_registered_groups_when_its_pipe_closes() -> None:
    guardian = Guardian().start()
    kept = subprocess.Popen(["sleep", "30"], start_new_session=True)
    released = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        guardian.watch(kept.pid)
        guardian.watch(released.pid)
        guardian.unwatch(released.pid)
        guardian.close()  # as if `smimesh up` died: end of file on the pipe
        assert kept.wait(5) == -signal.SIGKILL
        time.sleep(0.2)
        assert released.poll() is None  # unregistered groups are left alone
    finally:
        for process in (kept, released):
            process.kill()
            process.wait()


def test_demo_window_rates_and_shares_follow_recent_traffic() -> None:
    window = ClientWindow("buyer-0", window_s=3.0)
    window.add(0.0, {"requests": 0, "ok": 0, "by_version": {}})
    window.add(2.0, {"requests": 40, "ok": 40, "by_version": {"v1": 36, "v2": 4}})
    view = window.view()
    assert view.requests_per_s == pytest.approx(20.0) and view.success_rate == 1.0
    assert view.version_share == {"v1": 0.9, "v2": 0.1}
    # after the split moved to v2, old samples leave the window and the share follows
    window.add(4.0, {"requests": 80, "ok": 78, "by_version": {"v1": 36, "v2": 42}})
    window.add(6.0, {"requests": 120, "ok": 118, "by_version": {"v1": 36, "v2": 82}})
    view = window.view()
    assert view.version_share == {"v2": 1.0}
    assert view.success_rate == pytest.approx(78 / 80)
    assert view.share_text() == "v2 100.0%"


def test_demo_stats_read_the_shoppers_files(tmp_path: Path) -> None:
    stats = DemoStats(tmp_path, ("buyer-0", "thief-0"))
    assert [v.total for v in stats.refresh(0.0)] == [0, 0]  # nothing written yet
    (tmp_path / "buyer-0.json").write_text(json.dumps({"requests": 5, "ok": 5, "by_version": {"v1": 5}}))
    (tmp_path / "thief-0.json").write_text("{half-written")
    buyer, thief = stats.refresh(1.0)
    assert buyer.total == 5 and thief.total == 0


def test_demo_copy_keeps_user_edits(tmp_path: Path) -> None:
    written = copy_to(tmp_path)
    assert {p.name for p in written} >= {"split.yaml", "workloads.yaml", "store.py", "shopper.py"}
    (tmp_path / "split.yaml").write_text("# mine")
    assert copy_to(tmp_path) == []
    assert (tmp_path / "split.yaml").read_text() == "# mine"
    assert (manifests() / "split.yaml").read_text() != "# mine"
