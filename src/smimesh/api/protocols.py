"""What the API needs from the layers it serves, as protocols.

`api/` and `sources/`/`server/` are independent siblings (import-linter), so the API names the
shape it uses instead of importing `ResourceStore` or `SyncState`; the runtime passes the real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from smimesh.diagnostics import Diagnostic


class StoredLike(Protocol):
    @property
    def obj(self) -> Any: ...  # a resources.LoadedObject: .key, .resource, .location

    @property
    def origin(self) -> str: ...


class StoreLike(Protocol):
    """`sources.store.ResourceStore` as the API sees it."""

    @property
    def generation(self) -> int: ...

    def items(self) -> Sequence[StoredLike]: ...

    def get(self, key: Any) -> StoredLike | None: ...

    async def apply(self, objects: Sequence[Any], origin: str) -> list[Diagnostic]: ...

    async def delete(self, key: Any) -> list[Diagnostic]: ...


class SyncStateLike(Protocol):
    """`server.sync.SyncState` as the API sees it: one JSON-able row per proxy."""

    def rows(self) -> list[dict[str, Any]]: ...


class DeliveryLike(Protocol):
    """`runtime.delivery.DeliveryWatch`: did an apply reach the sidecars (`?wait=` on apply)."""

    def begin(self) -> Any: ...

    async def finish(self, begun: Any, keys: Sequence[Any], timeout_s: float) -> dict[str, Any]: ...
