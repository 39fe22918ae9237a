"""Root tasks of `smimesh up` never die silently: a crash is said with its traceback, then the task
restarts after a backoff (observers) or `failed` stops `up` (config producers)."""

from __future__ import annotations

import asyncio

from smimesh.local.backoff import Backoff
from smimesh.runtime.root_tasks import RootTasks


def _fast() -> Backoff:
    return Backoff(initial_s=0.01, max_s=0.02)


async def _crash() -> None:
    await asyncio.sleep(0)
    raise ValueError("boom in the task")


async def test_a_crashed_config_task_is_said_with_its_traceback_and_fails_up() -> None:
    said: list[str] = []
    tasks = RootTasks(said.append, _fast)
    tasks.spawn("pipeline", _crash)
    await asyncio.wait_for(tasks.failed.wait(), 5)
    assert tasks.failure == "the pipeline task failed (ValueError: boom in the task)"
    assert "internal error in the pipeline task:" in said[0]
    assert "Traceback (most recent call last)" in said[0] and "ValueError: boom in the task" in said[0]
    await tasks.stop()


async def test_a_crashed_observer_restarts_after_a_backoff_and_up_goes_on() -> None:
    said: list[str] = []
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError(f"crash {len(runs)}")
        await asyncio.Event().wait()

    tasks = RootTasks(said.append, _fast)
    tasks.spawn("telemetry", flaky, restart=True)
    for _ in range(500):
        if len(runs) == 3:
            break
        await asyncio.sleep(0.01)
    assert len(runs) == 3 and not tasks.failed.is_set()
    assert [line for line in said if line.startswith("restarting")] == [
        "restarting the telemetry task in 0.0 s",
        "restarting the telemetry task in 0.0 s",
    ]
    assert tasks.names == ["telemetry"]
    await tasks.stop()
    assert tasks.names == []


async def test_a_root_task_that_returns_is_a_failure_too() -> None:
    said: list[str] = []
    tasks = RootTasks(said.append, _fast)

    async def done() -> None:
        return None

    tasks.spawn("watch manifests", done)
    await asyncio.wait_for(tasks.failed.wait(), 5)
    assert "it must run until smimesh up stops" in tasks.failure


async def test_stopping_is_not_a_failure() -> None:
    said: list[str] = []
    tasks = RootTasks(said.append, _fast)
    tasks.spawn("pipeline", lambda: asyncio.Event().wait())
    await asyncio.sleep(0.01)
    await tasks.stop()
    await tasks.stop()
    assert not tasks.failed.is_set() and said == []
