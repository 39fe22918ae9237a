"""`InputSnapshot.updated`, `of_kind` and `of_kind_by_namespace`: a snapshot made from the last one by
its changes equals one made from scratch, and the last one is left as it was (the pipeline still diffs
against it)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smimesh.diagnostics import Location
from smimesh.resources import InputSnapshot, ResourceKey
from smimesh.resources.core import Service
from smimesh.resources.meta import Resource
from smimesh.resources.split import TrafficSplit


def _service(namespace: str, name: str, port: int) -> Resource:
    meta = {"name": name, "namespace": namespace}
    return Service.model_validate({"metadata": meta, "spec": {"ports": [{"port": port}]}})


def _split(namespace: str, name: str, port: int) -> Resource:
    spec = {"service": name, "backends": [{"service": f"{name}-v{port}", "weight": 1}]}
    return TrafficSplit.model_validate({"metadata": {"name": name, "namespace": namespace}, "spec": spec})


RESOURCES = st.builds(
    lambda make, namespace, name, port: make(namespace, name, port),
    st.sampled_from([_service, _split]),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["x", "y", "z", "w"]),
    st.integers(80, 82),
)
# One step: resources put (each with a file and line) and keys taken away.
STEPS = st.tuples(
    st.lists(st.tuples(RESOURCES, st.integers(1, 9))),
    st.lists(st.builds(ResourceKey, st.sampled_from(["Service", "TrafficSplit", "Workload"]),
                       st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]))),
)  # fmt: skip


def _from_scratch(in_force: dict[ResourceKey, tuple[Resource, Location]]) -> InputSnapshot:
    locations = {key: location for key, (_, location) in in_force.items()}
    return InputSnapshot.from_resources([r for r, _ in in_force.values()], locations)


def _same(a: InputSnapshot, b: InputSnapshot) -> bool:
    return a == b and a.keys() == b.keys() and dict(a.locations) == dict(b.locations)


@settings(max_examples=150, deadline=None)
@given(st.lists(STEPS, max_size=6))
def test_updated_equals_a_snapshot_from_scratch_and_leaves_the_last_one_alone(steps: list) -> None:
    in_force: dict[ResourceKey, tuple[Resource, Location]] = {}
    snapshot = InputSnapshot()
    for put, gone in steps:
        changes: dict[ResourceKey, tuple[Resource, Location] | None] = dict.fromkeys(gone)
        changes.update({r.key: (r, Location(f"{r.key.name}.yaml", line)) for r, line in put})
        before, before_copy = snapshot, _from_scratch(in_force)
        snapshot = snapshot.updated(changes)
        for key, change in changes.items():
            if change is None:
                in_force.pop(key, None)
            else:
                in_force[key] = change
        assert _same(snapshot, _from_scratch(in_force))
        assert _same(before, before_copy), "the last snapshot must not change"
        for kind in (Service, TrafficSplit):
            assert snapshot.of_kind(kind) == [r for r in snapshot.resources() if r.key.kind == kind.KIND]
            by_namespace = snapshot.of_kind_by_namespace(kind)
            assert [r for group in by_namespace.values() for r in group] == snapshot.of_kind(kind)
            assert all({r.metadata.namespace for r in group} == {ns} for ns, group in by_namespace.items())


def test_of_kind_finds_a_kind_between_others_and_nothing_for_an_absent_one() -> None:
    snapshot = InputSnapshot.from_resources(
        [_split("a", "x", 80), _service("b", "y", 80), _service("a", "z", 81)]
    )
    assert [s.key for s in snapshot.of_kind(Service)] == [("Service", "a", "z"), ("Service", "b", "y")]
    assert [s.key.name for s in snapshot.of_kind(TrafficSplit)] == ["x"]
    assert InputSnapshot().of_kind(Service) == []


def test_many_changes_at_once_are_sorted_in_and_equal_a_snapshot_from_scratch() -> None:
    """More changes than `updated` inserts one by one (an initial sync into a store already read)."""
    first = {(r := _service("a", f"s{i:03}", 80)).key: (r, Location("a.yaml", i)) for i in range(0, 600, 2)}
    snapshot = InputSnapshot().updated(first)
    assert _same(snapshot, _from_scratch(first))
    changes: dict[ResourceKey, tuple[Resource, Location] | None] = dict.fromkeys(list(first)[:100])
    changes.update({(r := _split("b", f"x{i:03}", 81)).key: (r, Location("b.yaml", i)) for i in range(300)})
    later = snapshot.updated(changes)
    in_force = {k: v for k, v in {**first, **changes}.items() if v is not None}
    assert _same(later, _from_scratch(in_force)) and _same(snapshot, _from_scratch(first))
