"""API-applied resources survive kill -9: every acknowledged apply is in the store after restart."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from smimesh.resources import load_text
from smimesh.sources.durable import DurableStore
from smimesh.sources.store import API_ORIGIN, ResourceStore

CHILD = Path(__file__).with_name("durable_child.py")


def service(index: int) -> str:
    return (
        "apiVersion: v1\nkind: Service\n"
        f"metadata: {{name: svc-{index}, namespace: durable}}\n"
        "spec: {selector: {app: x}, ports: [{name: http, port: 80}]}\n"
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_put_remove_reopen_and_private_mode(tmp_path: Path) -> None:
    path = tmp_path / "run" / "applied.sqlite"
    store, problems = await ResourceStore.open(path)
    assert problems == [] and store.items() == []
    await store.apply(load_text(service(1) + "---\n" + service(2)).objects, API_ORIGIN)
    await store.delete(load_text(service(1)).objects[0].key)
    reopened, problems = await ResourceStore.open(path)
    assert problems == []
    assert [str(s.key) for s in reopened.items()] == ["Service/durable/svc-2"]
    assert reopened.items()[0].origin == API_ORIGIN
    for companion in path.parent.iterdir():
        assert mode(companion) == 0o600, companion


async def test_refused_apply_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "applied.sqlite"
    store, _ = await ResourceStore.open(path)
    await store.replace_origin("/d/a.yaml", load_text(service(1), source="/d/a.yaml").objects)
    refused = await store.apply(load_text(service(1) + "---\n" + service(2)).objects, API_ORIGIN)
    assert [d.code for d in refused] == ["SM7101"]
    assert DurableStore(path).documents() == []


@pytest.mark.slow
def test_kill_9_mid_apply_loop_loses_no_acknowledged_apply(tmp_path: Path) -> None:
    path = tmp_path / "applied.sqlite"
    argv = [sys.executable, str(CHILD), str(path)]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        try:  # the with-block closes the child's stdout pipe
            port = int(child.stdout.readline())  # type: ignore[union-attr]
            acknowledged = apply_until_killed(child, port)
        finally:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 20
    survivors = {doc["metadata"]["name"] for doc in DurableStore(path).documents()}
    lost = [name for name in acknowledged if name not in survivors]
    assert lost == [], f"acknowledged applies lost by kill -9: {lost}"
    store, problems = asyncio.run(ResourceStore.open(path))
    assert problems == []
    assert {s.key.name for s in store.items()} == survivors, "a restart serves the same configuration"


def apply_until_killed(child: subprocess.Popen[str], port: int) -> list[str]:
    """Apply services one by one; after 20 acks, kill -9 the server while applies are in flight."""
    acknowledged: list[str] = []
    killer = threading.Timer(0.0, lambda: os.kill(child.pid, signal.SIGKILL))
    headers = {"Authorization": "Bearer durable-test"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, trust_env=False) as client:
        for index in range(10_000):
            if len(acknowledged) == 20:
                killer = threading.Timer(0.15, lambda: os.kill(child.pid, signal.SIGKILL))
                killer.start()
            try:
                answer = client.post("/api/v1/apply", content=service(index).encode())
            except httpx.TransportError:
                break
            if answer.status_code == 200:
                acknowledged.append(f"svc-{index}")
    killer.cancel()
    return acknowledged
