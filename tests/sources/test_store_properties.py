"""Hypothesis: any sequence of file and API writes keeps the store's precedence invariants."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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
    key: Key
    resource: Any
    location: Location = field(default_factory=Location)


FILES = ["a.yaml", "b.yaml", "c.yaml"]
NAMES = ["x", "y", "z", "w"]
OBJECTS = st.builds(lambda n, v: Obj(Key("Service", "ns", n), v), st.sampled_from(NAMES), st.integers(0, 2))
OPERATIONS = st.one_of(
    st.tuples(st.just("replace"), st.sampled_from(FILES), st.lists(OBJECTS, max_size=3)),
    st.tuples(st.just("remove"), st.sampled_from(FILES), st.just([])),
    st.tuples(st.just("api"), st.just(API_ORIGIN), st.lists(OBJECTS, min_size=1, max_size=2)),
    st.tuples(st.just("delete"), st.just(API_ORIGIN), st.lists(OBJECTS, min_size=1, max_size=1)),
)


def in_force(store: ResourceStore) -> dict[str, tuple[str, Any]]:
    return {str(s.key): (s.origin, s.resource) for s in store.items()}


async def run(operations: list[tuple[str, str, list[Obj]]]) -> None:
    store = ResourceStore()
    files: dict[str, dict[str, Any]] = {}
    api: dict[str, Any] = {}
    for action, origin, objects in operations:
        before, generation = in_force(store), store.generation
        unique = list({o.key: o for o in objects}.values())
        if action == "replace":
            await store.replace_origin(origin, unique)
            files[origin] = {str(o.key): o.resource for o in unique}
        elif action == "remove":
            await store.remove_origin(origin)
            files.pop(origin, None)
        elif action == "api":
            refused = await store.apply(unique, API_ORIGIN)
            file_keys = {k for defined in files.values() for k in defined}
            assert bool(refused) == any(str(o.key) in file_keys for o in unique)
            if not refused:
                api.update({str(o.key): o.resource for o in unique})
        else:
            key = unique[0].key
            try:
                if not await store.delete(key):
                    api.pop(str(key), None)
            except KeyError:
                assert str(key) not in api
        check(store, files, api, before, generation)


def check(store: ResourceStore, files: dict, api: dict, before: dict, generation: int) -> None:
    now = in_force(store)
    defined = {k for d in files.values() for k in d} | set(api)
    assert set(now) == defined, "exactly the keys someone defines are in force"
    for key, (origin, resource) in now.items():
        file_owners = [f for f, d in files.items() if key in d]
        if file_owners:
            assert origin in file_owners, "a key any file defines belongs to a file"
            assert resource == files[origin][key]
        else:
            assert origin == API_ORIGIN and resource == api[key]
    assert (store.generation != generation) == (now != before), "a generation bump iff something changed"


@settings(max_examples=150, deadline=None)
@given(st.lists(OPERATIONS, max_size=12))
def test_precedence_invariants_hold_for_any_sequence(operations: list[tuple[str, str, list[Obj]]]) -> None:
    asyncio.run(run(operations))
