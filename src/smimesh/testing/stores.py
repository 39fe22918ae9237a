"""A store for pipeline tests: a plain list of hub resources (`runtime.pipeline.StoreLike`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


class ListStore:
    """`snapshot()` is the list as it is now; tests call `Pipeline.rebuild()` themselves."""

    def __init__(self, resources: list[Any]) -> None:
        self.resources = resources

    def snapshot(self) -> list[Any]:
        return list(self.resources)

    async def subscribe(self) -> AsyncIterator[Any]:  # pragma: no cover - tests rebuild directly
        yield None
