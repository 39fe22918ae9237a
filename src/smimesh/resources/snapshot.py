"""`InputSnapshot`: the frozen set of hub resources, by key, that the mesh model is built from.

Owns the one shape every source hands downwards (files, the API, Kubernetes): resources keyed by
`ResourceKey`, each with the `Location` it came from (for diagnostics), iterated in key order so that
everything built from a snapshot is deterministic. Equal content gives equal snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, TypeVar

from smimesh.diagnostics import Location
from smimesh.resources.meta import Resource, ResourceKey

R = TypeVar("R", bound=Resource)


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
        """Every resource of the model's kind, in key order."""
        return [r for key, r in self._items if key.kind == model.KIND and isinstance(r, model)]

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
