"""`InputSnapshot`: the frozen set of hub resources, by key, that the mesh model is built from.

Owns the one shape every source hands downwards (files, the API, Kubernetes): resources keyed by
`ResourceKey`, each with the `Location` it came from (for diagnostics), iterated in key order so that
everything built from a snapshot is deterministic. Equal content gives equal snapshots.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, TypeVar

from smimesh.diagnostics import Location
from smimesh.resources.meta import Resource, ResourceKey

R = TypeVar("R", bound=Resource)
_V = TypeVar("_V")

Change = (
    tuple[Resource, Location] | None
)  # what `updated` puts at a key: the resource and its place, or nothing


class _Placed(Protocol):
    """What `from_objects` needs of a loaded object (a `LoadedObject` fits)."""

    @property
    def resource(self) -> Resource: ...

    @property
    def location(self) -> Location: ...


@dataclass(frozen=True, slots=True, eq=False)
class InputSnapshot:
    """Hub resources by key (sorted) with where each came from; build with `from_objects`/`from_resources`."""

    _items: tuple[tuple[ResourceKey, Resource], ...] = ()
    _locations: Mapping[ResourceKey, Location] = field(default_factory=dict)
    _index: Mapping[ResourceKey, Resource] = field(default_factory=dict, repr=False)

    @classmethod
    def from_resources(
        cls, resources: Iterable[Resource], locations: Mapping[ResourceKey, Location] | None = None
    ) -> InputSnapshot:
        """Later resources with an already-seen key replace earlier ones."""
        by_key = {resource.key: resource for resource in resources}
        items = tuple(sorted(by_key.items()))
        known = {key: loc for key, loc in (locations or {}).items() if key in by_key}
        return cls(items, MappingProxyType(known), MappingProxyType(dict(items)))

    @classmethod
    def from_objects(cls, objects: Iterable[_Placed]) -> InputSnapshot:
        placed = list(objects)
        locations = {obj.resource.key: obj.location for obj in placed}
        return cls.from_resources((obj.resource for obj in placed), locations)

    @property
    def locations(self) -> Mapping[ResourceKey, Location]:
        return self._locations

    def location(self, key: ResourceKey) -> Location:
        return self._locations.get(key, Location())

    def get(self, key: ResourceKey) -> Resource | None:
        return self._index.get(key)

    def find(self, model: type[R], namespace: str, name: str) -> R | None:
        found = self._index.get(ResourceKey(model.KIND, namespace, name))
        return found if isinstance(found, model) else None

    def of_kind(self, model: type[R]) -> list[R]:
        """Every resource of the model's kind, in key order (kind sorts first: a binary search finds them)."""
        start, end = self._kind_range(model.KIND)
        return [r for _, r in self._items[start:end] if isinstance(r, model)]

    def of_kind_by_namespace(self, model: type[R]) -> dict[str, tuple[R, ...]]:
        """`of_kind` by namespace (in order, each in name order), found by binary search on the keys:
        no resource is looked into (pydantic attribute access costs ~1 µs per object)."""
        start, end = self._kind_range(model.KIND)
        found: dict[str, tuple[R, ...]] = {}
        while start < end:
            namespace = self._items[start][0].namespace
            stop = bisect.bisect_right(self._items, namespace, lo=start, hi=end, key=_namespace_of)
            found[namespace] = tuple(
                map(_resource_of, self._items[start:stop])
            )  # a key's kind is its class's
            start = stop
        return found

    def _kind_range(self, kind: str) -> tuple[int, int]:
        start = bisect.bisect_left(self._items, kind, key=_kind_of)
        return start, bisect.bisect_right(self._items, kind, lo=start, key=_kind_of)

    def keys(self) -> list[ResourceKey]:
        return [key for key, _ in self._items]

    def resources(self) -> list[Resource]:
        return [resource for _, resource in self._items]

    def with_resources(
        self, resources: Iterable[Resource], locations: Mapping[ResourceKey, Location] | None = None
    ) -> InputSnapshot:
        """A new snapshot with `resources` added or replacing those with the same key."""
        merged_locations = {**self._locations, **(locations or {})}
        return InputSnapshot.from_resources([*self.resources(), *resources], merged_locations)

    def updated(self, changes: Mapping[ResourceKey, Change]) -> InputSnapshot:
        """A NEW snapshot with `changes` applied (key -> (resource, location), or None: gone); this one
        stays as it is (its holders still compare against it). Equal to `from_resources` of the result,
        at the cost of copying references plus a binary search per change instead of sorting every key:
        the store hands out one snapshot per change, so that is what a change costs here. Many changes
        at once (an initial sync into a store already read) are sorted in once instead: each insertion
        moves the references after it."""
        index, locations = _copy(self._index), _copy(self._locations)
        for key, change in changes.items():
            if change is None:
                index.pop(key, None)
                locations.pop(key, None)
            else:
                index[key], locations[key] = change
        if len(changes) > _INSERT_AT_MOST:
            items = tuple(sorted(index.items()))
        else:
            items = _inserted(self._items, {key: index.get(key) for key in changes})
        return InputSnapshot(items, MappingProxyType(locations), MappingProxyType(index))

    def without(self, keys: Iterable[ResourceKey]) -> InputSnapshot:
        gone = set(keys)
        kept = [r for key, r in self._items if key not in gone]
        return InputSnapshot.from_resources(kept, self._locations)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources())

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputSnapshot) and self._items == other._items

    def __hash__(self) -> int:
        return hash(tuple(self.keys()))  # models hold lists: hash the keys, equality compares content


def _key_of(item: tuple[ResourceKey, Resource]) -> ResourceKey:
    return item[0]


_resource_of = operator.itemgetter(1)
_INSERT_AT_MOST = 256  # changes beyond which one sort of every key beats an insertion per change


def _inserted(
    items: tuple[tuple[ResourceKey, Resource], ...], changes: Mapping[ResourceKey, Resource | None]
) -> tuple[tuple[ResourceKey, Resource], ...]:
    """`items` (sorted by key) with each changed key's resource put in place, inserted or removed."""
    found = list(items)
    for key, resource in changes.items():
        at = bisect.bisect_left(found, key, key=_key_of)
        present = at < len(found) and found[at][0] == key
        found[at : at + int(present)] = [] if resource is None else [(key, resource)]
    return tuple(found)


def _kind_of(item: tuple[ResourceKey, Resource]) -> str:
    return item[0].kind


def _namespace_of(item: tuple[ResourceKey, Resource]) -> str:
    return item[0].namespace


def _copy(mapping: Mapping[ResourceKey, _V]) -> dict[ResourceKey, _V]:
    """A dict copy; of a dict behind a MappingProxyType without rehashing every key (`dict(proxy)`
    goes through the mapping protocol and costs ~40x more)."""
    return mapping.copy() if isinstance(mapping, dict | MappingProxyType) else dict(mapping)
