"""Immutable, content-hashed per-proxy xDS snapshots (go-control-plane's `pkg/cache/v3/snapshot.go`).

Owns `Snapshot` (per type URL: name -> `Entry`, and a per-type version that is a hash of the
entries, so an unchanged world yields unchanged versions and therefore no push), `Entry` (one
resource as a packed `google.protobuf.Any` plus its content digest), the interning of entries
(a message shared by many proxies is serialized once), and the consistency check that refuses a
snapshot whose listeners or clusters name route configurations or EDS clusters it lacks.
"""

from __future__ import annotations

import hashlib
import operator
import sys
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, TypeVar

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

from smimesh.xds import type_urls

_HCM = http_connection_manager_pb2.HttpConnectionManager

_INTERN_CAPACITY: Final = 200_000
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Entry:
    """One resource: its name, the packed `Any` to put on the wire, and a digest of its content."""

    name: str
    resource: any_pb2.Any
    digest: str


@dataclass(frozen=True, slots=True)
class ConsistencyError:
    """A resource that names another one the snapshot does not hold."""

    type_url: str
    name: str
    missing_type_url: str
    missing_name: str

    def __str__(self) -> str:
        return (
            f"{type_urls.short_name(self.type_url)} {self.name!r} references "
            f"{type_urls.short_name(self.missing_type_url)} {self.missing_name!r}, which the snapshot lacks"
        )


def resource_name(message: Message) -> str:
    """The xDS name of a resource (`cluster_name` for a ClusterLoadAssignment, `name` otherwise)."""
    if message.DESCRIPTOR.full_name == "envoy.config.endpoint.v3.ClusterLoadAssignment":
        return str(getattr(message, "cluster_name"))  # noqa: B009 - message fields are untyped
    return str(getattr(message, "name"))  # noqa: B009


class EntryInterner:
    """Serializes each distinct message once, and remembers what a consistency check found.

    One interner is owned by one pipeline (`runtime.pipeline.Pipeline.interner`) and passed to
    `Snapshot.build`; nothing is kept in module globals, so two pipelines never share it. Bounded:
    least recently used entries go first.

    Why messages are looked up by identity: the generators return the *same message object* for a
    piece shared by many proxies (lru_cache on frozen inputs), and protobuf messages are mutable,
    hence unhashable; hashing their content would mean serializing them, which is the very cost
    this saves. The identity key is safe: every cached value holds a strong reference to the
    message(s) its key was made from, so while a key is in the cache its object is alive and its
    `id()` cannot be given to another object (and an entry's hit is checked with `is` as well).
    Entries with equal content are also shared by digest, so proxies holding the same resource
    hold the same bytes (as long as some snapshot or cached message holds the entry: weakly).

    Holding a message costs memory (protobuf keeps it as objects, about twice its serialized
    size) and pays only if the same object comes again, which needs someone else to hold it (a
    generator's cache). `release_unheld()`, called after each pipeline pass, forgets the messages
    of that pass that nobody else holds: their object can never be presented again (a per-proxy
    route configuration built afresh each time was kept for nothing: ~6 KB per proxy).
    """

    def __init__(self, capacity: int = _INTERN_CAPACITY) -> None:
        self._capacity = capacity
        self._by_id: OrderedDict[int, tuple[Message, Entry]] = OrderedDict()
        self._by_digest: weakref.WeakValueDictionary[str, Entry] = weakref.WeakValueDictionary()
        self._lists: OrderedDict[int, tuple[tuple[Message, ...], TypeEntries]] = OrderedDict()
        self._references: dict[tuple[str, str], tuple[str, ...]] = {}  # (digest, kind) -> names
        self._consistency: dict[tuple[str, str, str], tuple[ConsistencyError, ...]] = {}
        self._fresh: list[int] = []  # ids of the messages first seen since the last release
        self._fresh_lists: list[int] = []  # keys of the lists first seen since then
        self.serializations = 0

    def type_entries(self, messages: Iterable[Message]) -> TypeEntries:
        """The entries and version of one type's list of messages, computed once per distinct list.

        Proxies that share a view of a type get the very same list objects from the generators, so
        the second proxy costs one hash of ids. The cache is keyed by that hash (a tuple of ids per
        proxy and type, kept, would cost more than the rest of the entry) and a hit is checked
        object by object; the cached value holds the messages, so their ids cannot be reused by
        other objects while it lives.
        """
        listed = tuple(messages)
        key = hash(tuple(map(id, listed)))
        hit = self._lists.get(key)
        if hit is not None and _same_objects(hit[0], listed):
            self._lists.move_to_end(key)
            return hit[1]
        mapping = MappingProxyType({entry.name: entry for entry in map(self.entry, listed)})
        found = TypeEntries(mapping, _version_of(mapping))
        self._lists[key] = (listed, found)
        self._fresh_lists.append(key)
        if len(self._lists) > self._capacity // 10:
            self._lists.popitem(last=False)
        return found

    def entry(self, message: Message) -> Entry:
        cached = self._by_id.get(id(message))
        if cached is not None and cached[0] is message:
            self._by_id.move_to_end(id(message))
            return cached[1]
        entry = self._serialize(message)
        self._by_id[id(message)] = (message, entry)
        self._fresh.append(id(message))
        if len(self._by_id) > self._capacity:
            self._by_id.popitem(last=False)
        return entry

    def release_unheld(self) -> int:
        """Forget the messages first seen since the last call that nobody outside the interner
        holds any more, and the lists containing them; how many messages were forgotten.

        Cost in proportion to what was new since the last call, not to the whole cache: a message
        first seen then can only be in a list first seen then."""
        fresh_lists = [key for key in dict.fromkeys(self._fresh_lists) if key in self._lists]
        listed = Counter(id(m) for key in fresh_lists for m in self._lists[key][0])
        baseline = _held_once()
        gone = {
            key
            for key in dict.fromkeys(self._fresh)
            if key in self._by_id and _references(self._by_id[key][0]) - baseline <= listed[key]
        }
        for key in gone:
            del self._by_id[key]
        for key in fresh_lists:
            if any(id(m) in gone for m in self._lists[key][0]):
                del self._lists[key]
        self._fresh, self._fresh_lists = [], []
        return len(gone)

    def _serialize(self, message: Message) -> Entry:
        self.serializations += 1
        value = message.SerializeToString(deterministic=True)
        type_url = type_urls.PREFIX + message.DESCRIPTOR.full_name
        digest = hashlib.blake2b(type_url.encode() + b"\0" + value, digest_size=16).hexdigest()
        shared = self._by_digest.get(digest)
        if shared is not None:
            return shared
        entry = Entry(resource_name(message), any_pb2.Any(type_url=type_url, value=value), digest)
        self._by_digest[digest] = entry
        return entry

    def references(self, entry: Entry, referenced: _Referencer) -> tuple[str, ...]:
        """What `entry` names (`referenced`): unpacking is costly and a shared resource has one
        digest, so each digest is unpacked once."""
        key = (entry.digest, referenced.__name__)
        return _remembered(self._references, key, lambda: referenced(entry.resource), self._capacity)

    def consistency(
        self, key: tuple[str, str, str], check: Callable[[], tuple[ConsistencyError, ...]]
    ) -> tuple[ConsistencyError, ...]:
        """`check()` once per (type, its version, the referenced type's version): versions hash names
        and contents, so equal versions give an equal answer (many proxies share them)."""
        return _remembered(self._consistency, key, check, self._capacity)

    def clear(self) -> None:
        self._fresh, self._fresh_lists = [], []
        self._by_id.clear()
        self._by_digest.clear()
        self._lists.clear()
        self._references.clear()
        self._consistency.clear()


def _remembered(cache: dict[K, V], key: K, compute: Callable[[], V], capacity: int) -> V:
    """`cache[key]`, computed once; a cache grown past `capacity` is emptied (rare, and cheap)."""
    found = cache.get(key)
    if found is None:
        if len(cache) > capacity:
            cache.clear()
        found = cache[key] = compute()
    return found


def _references(held: object) -> int:
    return sys.getrefcount(held)


def _held_once() -> int:
    """What `_references` reads for an object held by exactly one container (CPython's count,
    measured rather than assumed: it includes the call's own references)."""
    probe = (object(),)
    return _references(probe[0])


def _same_objects(cached: tuple[Message, ...], listed: tuple[Message, ...]) -> bool:
    return len(cached) == len(listed) and all(map(operator.is_, cached, listed))


@dataclass(frozen=True, slots=True)
class TypeEntries:
    """One type's resources in a snapshot (name -> entry) and its version; shared between snapshots."""

    entries: Mapping[str, Entry]
    version: str


def _version_of(entries: Mapping[str, Entry]) -> str:
    hasher = hashlib.blake2b(digest_size=8)
    for name in sorted(entries):
        hasher.update(name.encode() + b"\0" + entries[name].digest.encode() + b"\n")
    return hasher.hexdigest()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one proxy should hold, by type URL; immutable once built.

    `changed_at` is the (monotonic) time of the change that caused this snapshot, stamped by the
    pipeline so the server can measure change -> ACK convergence; it is not part of the content.
    """

    resources: Mapping[str, Mapping[str, Entry]]
    versions: Mapping[str, str]
    changed_at: float = field(default=0.0, compare=False)
    # The interner it was built with (its caches serve `consistency_errors`); not part of the content.
    interner: EntryInterner | None = field(default=None, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        resources: Mapping[str, Iterable[Message]],
        *,
        changed_at: float = 0.0,
        interner: EntryInterner | None = None,
    ) -> Snapshot:
        """A snapshot of `{type_url: [messages]}`; later duplicates of a name replace earlier ones.

        `interner`: the caller's (a pipeline passes its own, so messages shared across proxies and
        rebuilds are serialized once); without one, this snapshot's own."""
        interner = interner if interner is not None else EntryInterner()
        by_type = {type_url: interner.type_entries(messages) for type_url, messages in resources.items()}
        entries = MappingProxyType({type_url: found.entries for type_url, found in by_type.items()})
        versions = MappingProxyType({type_url: found.version for type_url, found in by_type.items()})
        return cls(entries, versions, changed_at, interner)

    def version(self, type_url: str) -> str:
        """The type's version; "" for a type the snapshot does not carry (nothing to push)."""
        return self.versions.get(type_url, "")

    def entries(self, type_url: str) -> Mapping[str, Entry]:
        return self.resources.get(type_url, MappingProxyType({}))

    def type_urls(self) -> list[str]:
        """Carried types in push order (make-before-break)."""
        return sorted(self.resources, key=type_urls.push_rank)

    def same_content(self, other: Snapshot | None) -> bool:
        return other is not None and dict(self.versions) == dict(other.versions)

    def consistency_errors(self) -> list[ConsistencyError]:
        """Every route config a listener's RDS names, every EDS cluster a CDS cluster names, is present."""
        errors = self._missing(type_urls.LISTENER, type_urls.ROUTE, listener_route_names)
        errors += self._missing(type_urls.CLUSTER, type_urls.ENDPOINT, cluster_eds_names)
        return errors

    def _missing(self, source: str, target: str, referenced: _Referencer) -> list[ConsistencyError]:
        interner = self.interner if self.interner is not None else EntryInterner()
        present = self.entries(target)

        def check() -> tuple[ConsistencyError, ...]:
            return tuple(
                ConsistencyError(source, name, target, wanted)
                for name, entry in sorted(self.entries(source).items())
                for wanted in interner.references(entry, referenced)
                if wanted not in present
            )

        return list(interner.consistency((source, self.version(source), self.version(target)), check))


_Referencer = Callable[[any_pb2.Any], tuple[str, ...]]


def cluster_eds_names(packed: any_pb2.Any) -> tuple[str, ...]:
    """The ClusterLoadAssignment an EDS cluster fetches (none for other cluster types)."""
    cluster = cluster_pb2.Cluster()
    packed.Unpack(cluster)
    if cluster.type != cluster_pb2.Cluster.EDS:
        return ()
    return (cluster.eds_cluster_config.service_name or cluster.name,)


def listener_route_names(packed: any_pb2.Any) -> tuple[str, ...]:
    """Route configuration names a listener's HTTP connection managers fetch over RDS."""
    listener = listener_pb2.Listener()
    packed.Unpack(listener)
    chains = [*listener.filter_chains, listener.default_filter_chain]
    names: list[str] = []
    for network_filter in (f for chain in chains for f in chain.filters):
        if not network_filter.typed_config.Is(_HCM.DESCRIPTOR):
            continue
        manager = _HCM()
        network_filter.typed_config.Unpack(manager)
        if manager.HasField("rds"):
            names.append(manager.rds.route_config_name)
    return tuple(names)
