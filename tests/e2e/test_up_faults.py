"""`smimesh up` under faults: a killed workload, a killed `smimesh up`, a restarting control plane.

Real `smimesh up`, real Envoy sidecars, real workload processes on loopback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smimesh.runtime.app import Console, MeshApp, UpConfig
from smimesh.testing.up import Mesh, eventually, make_shop, send, split, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

URL = "http://web.shop/"
EXTRA_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: extra, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8081, targetPort: http}]
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


@pytest.fixture
def shop_dir(tmp_path: Path) -> Path:
    make_shop(tmp_path / "shop", v1=50, v2=50)
    return tmp_path / "shop"


@pytest.fixture
def shop(shop_dir: Path, tmp_path: Path) -> Iterator[Mesh]:
    mesh = Mesh(shop_dir, tmp_path / "run", tmp_path / "contexts.json").start()
    try:
        mesh.wait_ready(expected_instances=3)
        yield mesh
    finally:
        mesh.stop()


def test_a_killed_backend_is_restarted_announced_and_traffic_recovers(shop: Mesh) -> None:
    proxy = shop.proxy("client-0")
    [victim] = shop.instances("web-v2")
    os.kill(victim["pid"], signal.SIGKILL)

    restarted = eventually(
        lambda: next(
            (r for r in shop.instances("web-v2") if r["restarts"] == 1 and r["state"] == "running"), None
        ),
        20,
        what="web-v2-0 restarted",
        mesh=shop,
    )
    assert restarted["pid"] != victim["pid"]
    assert "web-v2-0 exited (killed by SIGKILL); restarting in" in shop.output()
    eventually(lambda: send(proxy, URL, 40)[2] == {200: 40}, 20, what="traffic to recover", mesh=shop)
    versions, _, _ = send(proxy, URL, 100)
    assert versions["v2"] > 0 and versions["v1"] > 0, versions

    # a killed sidecar too: restarted with the same ports and bootstrap, config back from the control plane
    [victim] = shop.instances("web-v1")
    os.kill(victim["sidecar"]["pid"], signal.SIGKILL)
    eventually(
        lambda: next(
            (r for r in shop.instances("web-v1") if r["sidecar"]["restarts"] == 1 and r["sync"] == "SYNCED"),
            None,
        ),
        20,
        what="web-v1-0's sidecar restarted and in sync",
        mesh=shop,
    )
    assert "web-v1-0 sidecar exited (killed by SIGKILL)" in shop.output()
    eventually(lambda: send(proxy, URL, 40)[2] == {200: 40}, 20, what="traffic to recover", mesh=shop)


def test_sigkill_of_up_leaves_no_orphans_and_the_next_up_serves_the_same_config(
    shop: Mesh, shop_dir: Path, tmp_path: Path
) -> None:
    token = (shop.run_dir / "token").read_text().strip()
    applied = httpx.post(
        f"http://{shop.api}/api/v1/apply",
        content=EXTRA_SERVICE,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert applied.status_code < 300, applied.text
    write(shop_dir / "split.yaml", split(0, 100))
    eventually(lambda: send(shop.proxy("client-0"), URL, 20)[0] == {"v2": 20}, 10, what="100% v2", mesh=shop)

    assert shop.process is not None
    family = descendants(shop.process.pid)
    assert len(family) >= 7  # 3 apps + 3 sidecars + the guardian (+ setpriv wrappers are exec'd away)
    shop.kill9()
    deadline = time.monotonic() + 1.0
    while [p for p in family if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [p for p in family if alive(p)], "processes outlived a SIGKILLed `smimesh up`"

    again = Mesh(shop_dir, shop.run_dir, tmp_path / "contexts.json").start()
    try:
        again.wait_ready(expected_instances=3)
        kept = httpx.get(f"http://{again.api}/api/v1/resources/Service/shop/extra", timeout=5)
        assert kept.status_code == 200, kept.text
        versions, _, statuses = send(again.proxy("client-0"), URL, 40)
        assert versions == {"v2": 40}, (versions, statuses)
    finally:
        assert again.stop() == 0


async def test_envoys_keep_serving_while_the_control_plane_restarts(
    shop_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMIMESH_CONTEXT_FILE", str(tmp_path / "contexts.json"))
    said: list[str] = []
    app = MeshApp(UpConfig(shop_dir, tmp_path / "run", api_addr="127.0.0.1:0"), Console(say=said.append))
    try:
        await app.start()
        assert await app.wait_ready(60), app.status()
        proxy = next(r["http_proxy"] for r in app.status()["instances"] if r["instance"] == "client-0")

        await app.xds.stop()  # the control plane goes away; the sidecars keep their last config
        await asyncio.sleep(0.5)
        _, _, statuses = await asyncio.to_thread(send, proxy, URL, 60)
        assert statuses == {200: 60}, statuses

        await app.xds.start()  # same port: every sidecar reconnects and resyncs by itself
        write(shop_dir / "split.yaml", split(100, 0))

        async def only_v1() -> bool:
            versions, _, _ = await asyncio.to_thread(send, proxy, URL, 20)
            return versions == {"v1": 20}

        deadline = time.monotonic() + 30
        while not await only_v1():
            assert time.monotonic() < deadline, f"edit not applied after the restart: {app.status()}"
            await asyncio.sleep(0.2)
        assert await app.wait_ready(10), app.status()
    finally:
        await app.stop()


async def test_a_crashed_root_task_is_shown_with_its_traceback_and_stops_up_with_exit_1(
    shop_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate task dies (its book raises): `up` must not go on serving config that will
    silently go stale; the user sees the traceback, then everything stops and the exit code is 1."""
    from smimesh.runtime.lifetime import serve
    from smimesh.runtime.root_tasks import RootTaskFailed

    monkeypatch.setenv("SMIMESH_CONTEXT_FILE", str(tmp_path / "contexts.json"))
    said: list[str] = []

    async def crash_certificates(app: MeshApp) -> None:
        assert await app.wait_ready(60), app.status()
        assert "certificates" in app.tasks.names

        def broken(*_args: object) -> None:
            raise OSError("injected: the certificate book cannot sign")

        monkeypatch.setattr(app.security.book, "sync", broken)
        app.security._wake.set()  # renew now: the task calls the broken book at once
        await asyncio.Event().wait()  # `up` keeps running until something stops it

    config = UpConfig(shop_dir, tmp_path / "run", api_addr="127.0.0.1:0")
    with pytest.raises(RootTaskFailed) as failed:
        await asyncio.wait_for(serve(config, Console(say=said.append), while_running=crash_certificates), 120)
    assert failed.value.exit_code == 1
    assert "the certificates task failed (OSError: injected: the certificate book cannot sign)" in str(
        failed.value
    )
    crash = next(line for line in said if line.startswith("internal error in the certificates task:"))
    assert "Traceback (most recent call last)" in crash and "OSError: injected" in crash
    assert said[-1] == "stopped; nothing left running"
