"""ResourceStore semantics: origins, precedence, replace, delete, generations, subscriptions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from smimesh.diagnostics import Location
from smimesh.sources.store import API_ORIGIN, ResourceStore


@dataclass(frozen=True)
class Key:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Obj:
    """The shape of a LoadedObject the store relies on: key, resource, location."""

    key: Key
    resource: Any
    location: Location = field(default_factory=Location)


def obj(name: str, value: int = 1, file: str = "a.yaml", kind: str = "Service") -> Obj:
    return Obj(Key(kind, "ns", name), {"value": value}, Location(file, 1))


async def test_apply_then_get_and_items_sorted() -> None:
    store = ResourceStore()
    assert await store.apply([obj("b"), obj("a")], "a.yaml") == []
    assert [str(s.key) for s in store.items()] == ["Service/ns/a", "Service/ns/b"]
    stored = store.get(Key("Service", "ns", "a"))
    assert stored is not None and stored.origin == "a.yaml"
    assert store.get(Key("Service", "ns", "zzz")) is None


async def test_generation_bumps_only_on_real_change() -> None:
    store = ResourceStore()
    await store.apply([obj("a")], "a.yaml")
    assert store.generation == 1
    await store.replace_origin("a.yaml", [obj("a")])
    assert store.generation == 1, "an unchanged re-save must wake nobody"
    await store.replace_origin("a.yaml", [obj("a", value=2)])
    assert store.generation == 2


async def test_replace_origin_deletes_what_disappeared_from_the_file() -> None:
    store = ResourceStore()
    await store.replace_origin("a.yaml", [obj("x"), obj("y")])
    await store.replace_origin("a.yaml", [obj("y")])
    assert [s.key.name for s in store.items()] == ["y"]
    await store.remove_origin("a.yaml")
    assert store.items() == []
    assert "a.yaml" not in store.origins()


async def test_api_cannot_apply_or_delete_what_a_file_defines() -> None:
    store = ResourceStore()
    await store.replace_origin("a.yaml", [obj("x")])
    diagnostics = await store.apply([obj("x", value=9), obj("new")], API_ORIGIN)
    assert [d.code for d in diagnostics] == ["SM7101"]
    assert "a.yaml:1" in diagnostics[0].message
    assert [s.key.name for s in store.items()] == ["x"], "all or nothing: 'new' not stored either"
    assert [d.code for d in await store.delete(Key("Service", "ns", "x"))] == ["SM7101"]
    with pytest.raises(KeyError):
        await store.delete(Key("Service", "ns", "nothing"))


async def test_file_defining_an_api_object_wins_and_api_copy_returns_after() -> None:
    store = ResourceStore()
    await store.apply([obj("x", value=1)], API_ORIGIN)
    diagnostics = await store.replace_origin("a.yaml", [obj("x", value=2)])
    assert [d.code for d in diagnostics] == ["SM7103"]
    stored = store.get(Key("Service", "ns", "x"))
    assert stored is not None and stored.origin == "a.yaml" and stored.resource == {"value": 2}
    await store.remove_origin("a.yaml")
    stored = store.get(Key("Service", "ns", "x"))
    assert stored is not None and stored.origin == API_ORIGIN and stored.resource == {"value": 1}


async def test_two_files_first_keeps_it_second_takes_over_when_first_drops_it() -> None:
    store = ResourceStore()
    await store.replace_origin("a.yaml", [obj("x", 1, "a.yaml")])
    diagnostics = await store.replace_origin("b.yaml", [obj("x", 2, "b.yaml")])
    assert [d.code for d in diagnostics] == ["SM7102"]
    assert store.get(Key("Service", "ns", "x")).origin == "a.yaml"  # type: ignore[union-attr]
    await store.replace_origin("a.yaml", [])
    assert store.get(Key("Service", "ns", "x")).origin == "b.yaml"  # type: ignore[union-attr]


async def test_api_delete_removes_api_object() -> None:
    store = ResourceStore()
    await store.apply([obj("x")], API_ORIGIN)
    assert await store.delete(Key("Service", "ns", "x")) == []
    assert store.items() == []


async def test_subscription_first_item_at_once_then_coalesces() -> None:
    store = ResourceStore()
    changes = store.subscribe()
    first = await asyncio.wait_for(changes.__anext__(), 1)
    assert first.generation == 0
    for value in range(5):
        await store.apply([obj("x", value)], "a.yaml")
    change = await asyncio.wait_for(changes.__anext__(), 1)
    assert change.generation == 5, "five changes between two reads arrive as one item"
    waiter = asyncio.ensure_future(changes.__anext__())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await store.apply([obj("y")], "a.yaml")
    change = await asyncio.wait_for(waiter, 1)
    assert change.generation == 6


async def test_changed_at_is_the_oldest_unseen_change() -> None:
    store = ResourceStore()
    changes = store.subscribe()
    await changes.__anext__()
    await store.apply([obj("x", 1)], "a.yaml")
    await asyncio.sleep(0.05)
    await store.apply([obj("x", 2)], "a.yaml")
    loop_now = asyncio.get_running_loop().time()
    change = await changes.__anext__()
    assert loop_now - change.changed_at >= 0.05


async def test_snapshot_of_real_objects_is_cached_per_generation() -> None:
    from smimesh.resources import load_text
    from smimesh.resources.core import Service

    text = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {ports: [port: 80]}"
    loaded = load_text(text, source="/d/web.yaml")
    store = ResourceStore()
    await store.replace_origin("/d/web.yaml", loaded.objects)
    snapshot = store.snapshot()
    assert snapshot is store.snapshot(), "unchanged store, same snapshot object"
    assert [s.metadata.name for s in snapshot.of_kind(Service)] == ["web"]
    assert snapshot.location(loaded.objects[0].key).file == "/d/web.yaml"
    await store.remove_origin("/d/web.yaml")
    assert list(store.snapshot().of_kind(Service)) == []


async def test_batch_publishes_one_change_dated_by_its_first_write() -> None:
    store = ResourceStore()
    changes = store.subscribe()
    await changes.__anext__()
    with store.batch():
        await store.replace_origin("a.yaml", [obj("a")])
        first_write = asyncio.get_running_loop().time()
        with store.batch():
            await store.replace_origin("b.yaml", [obj("b", file="b.yaml")])
        assert store.generation == 0, "nothing published inside the batch"
        await asyncio.sleep(0.02)
    assert store.generation == 1
    change = await asyncio.wait_for(changes.__anext__(), 1)
    assert change.changed_at <= first_write
    with store.batch():
        await store.replace_origin("a.yaml", [obj("a")])  # no real change
    assert store.generation == 1
