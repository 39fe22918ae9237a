"""Fixtures of the runtime tests: a guard that fails a test which leaves asyncio tasks running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    for _ in range(50):  # cancelled tasks need a few loop turns to finish
        leaked = {t for t in asyncio.all_tasks() if t not in before and t is not current and not t.done()}
        if not leaked:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"tasks leaked: {[t.get_name() for t in leaked]}")
