"""The store's snapshot is made from the last one by the keys written since (not re-sorted from all
objects): after any chain of file and API writes it equals a snapshot made from scratch of what is in
force, locations included (a write that changes only a location wakes nobody, as before: it shows in
the next change's snapshot), and every snapshot handed out earlier is left as it was."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from smimesh.resources import InputSnapshot, LoadedObject, load_text
from smimesh.sources.store import API_ORIGIN, ResourceStore

SERVICE = (
    "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: ns}}\n"
    "spec: {{ports: [port: {port}]}}"
)
SPLIT = (
    "apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\nmetadata: {{name: {name}, namespace: ns}}\n"
    "spec: {{service: {name}, backends: [{{service: b{port}, weight: 1}}]}}"
)


def _loaded(kind: str, name: str, port: int, file: str) -> LoadedObject:
    text = (SERVICE if kind == "Service" else SPLIT).format(name=name, port=port)
    (obj,) = load_text(text, source=file).objects
    return obj


FILES = ("a.yaml", "b.yaml")
POOL = tuple(
    _loaded(kind, name, port, file)
    for kind in ("Service", "TrafficSplit")
    for name in ("x", "y", "z")
    for port in (80, 81)
    for file in (*FILES, "<api>")
)
OBJECTS = st.lists(st.sampled_from(POOL), max_size=3)
OPERATIONS = st.one_of(
    st.tuples(st.just("replace"), st.sampled_from(FILES), OBJECTS),
    st.tuples(st.just("remove"), st.sampled_from(FILES), st.just([])),
    st.tuples(st.just("api"), st.just(API_ORIGIN), OBJECTS.filter(bool)),
    st.tuples(st.just("delete"), st.just(API_ORIGIN), OBJECTS.filter(bool)),
    st.tuples(st.just("look"), st.just(""), st.just([])),  # take a snapshot between writes
)


def _from_scratch(store: ResourceStore) -> InputSnapshot:
    return InputSnapshot.from_objects([stored.obj for stored in store.items()])


def _same(a: InputSnapshot, b: InputSnapshot) -> bool:
    return a == b and a.keys() == b.keys() and dict(a.locations) == dict(b.locations)


async def _run(operations: list[tuple[str, str, list[LoadedObject]]]) -> None:
    store = ResourceStore()
    handed_out: list[tuple[InputSnapshot, InputSnapshot]] = []
    last = (store.generation, store.snapshot())
    for action, origin, objects in operations:
        unique = list({o.key: o for o in objects}.values())
        if action == "replace":
            await store.replace_origin(origin, unique)
        elif action == "remove":
            await store.remove_origin(origin)
        elif action == "api":
            await store.apply(unique, origin)
        elif action == "delete":
            for obj in unique:
                with contextlib.suppress(KeyError):  # deleting what is not there is fine here
                    await store.delete(obj.key)
        else:
            snapshot = store.snapshot()
            handed_out.append(
                (snapshot, InputSnapshot.from_resources(snapshot.resources(), snapshot.locations))
            )
        if store.generation == last[0]:  # nothing in force changed (maybe a location): the same one
            assert store.snapshot() is last[1]
        else:
            assert _same(store.snapshot(), _from_scratch(store))
        last = (store.generation, store.snapshot())
    for snapshot, as_it_was in handed_out:
        assert _same(snapshot, as_it_was), "a snapshot handed out earlier changed"


@settings(max_examples=150, deadline=None)
@given(st.lists(OPERATIONS, max_size=10))
def test_incremental_snapshot_equals_one_from_scratch(operations: list) -> None:
    asyncio.run(_run(operations))


async def test_a_location_written_without_a_change_shows_with_the_next_change() -> None:
    store = ResourceStore()
    first, moved = _loaded("Service", "x", 80, "<api>"), _loaded("Service", "x", 80, "b.yaml")
    await store.apply([first], API_ORIGIN)
    assert store.snapshot().location(first.key).file == "<api>"
    await store.apply([moved], API_ORIGIN)  # equal resource: no new generation
    await store.apply([_loaded("Service", "y", 80, "<api>")], API_ORIGIN)
    assert store.snapshot().location(first.key).file == "b.yaml"
