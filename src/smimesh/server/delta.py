"""The incremental ADS stream (DeltaAggregatedResources).

Owns `DeltaStream`: per type, what the proxy is subscribed to (wildcard and/or names, changed by
`resource_names_subscribe` / `resource_names_unsubscribe`, `*` included), and what it holds as far as
the server knows (name -> per-resource version = content digest), seeded on reconnect from
`initial_resource_versions` so a proxy that already holds a resource is not sent it again. A push
carries only resources whose digest differs and `removed_resources` for names that are gone (or
that a named subscription asked for and do not exist, so Envoy stops waiting for them).

As in SotW: one response in flight per type; a NACK is recorded with Envoy's text, and when the
refusal may be transient the refused resources are resent with backoff (`StreamBase.refused`).
Either way the stream forgets that the proxy holds them (`_forget_refused`): every later push
carries them again, so a delta of other resources is not ACKed as if the proxy were complete.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import grpc
from envoy.service.discovery.v3 import discovery_pb2

from smimesh.server.hooks import Push
from smimesh.server.stream import ServerParts, StreamBase
from smimesh.xds import type_urls
from smimesh.xds.snapshot import Entry

_ABSENT = ""  # a known "version" meaning: the proxy was told this resource does not exist
_NONE: Mapping[str, Any] = MappingProxyType({})


class Held(Mapping[str, str]):
    """What a proxy holds of one type as far as the server knows (name -> version; "" = told it
    does not exist); immutable.

    After a push to a proxy that wants every resource of the type (wildcard, or it named them
    all: the usual case), it holds exactly the snapshot's entries: `base` is then that shared
    mapping and `own` lists only the names it was told do not exist, so a stream keeps one
    reference instead of a copy of every name and version (memory per connected proxy). `own`
    overrides `base`; a name mapped to None in `own` is not held.
    """

    __slots__ = ("_base", "_own")

    def __init__(self, base: Mapping[str, Entry] = _NONE, own: Mapping[str, str | None] = _NONE) -> None:
        self._base, self._own = base, own

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._own:
            found = self._own[name]
            return default if found is None else found
        entry = self._base.get(name)
        return default if entry is None else entry.digest

    def __getitem__(self, name: str) -> str:
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return str(found)

    def __iter__(self) -> Iterator[str]:
        yield from (name for name in self._base if name not in self._own)
        yield from (name for name, version in self._own.items() if version is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def is_exactly(self, entries: Mapping[str, Entry]) -> bool:
        """Holds every entry of `entries` at its version (whatever it was told does not exist)."""
        return self._base is entries and all(v == _ABSENT for v in self._own.values())

    def without(self, name: str) -> Held:
        """The same, no longer holding `name` (nor knowing anything of it)."""
        if name not in self:
            return self
        return Held(
            self._base, {**self._own, name: None} if name in self._base else _dropped(self._own, name)
        )


def _dropped(own: Mapping[str, str | None], name: str) -> Mapping[str, str | None]:
    return {key: value for key, value in own.items() if key != name}


@dataclass(slots=True)
class _DeltaType:
    wildcard: bool = False
    names: frozenset[str] = frozenset()
    known: Held = field(default_factory=Held)
    nonce: str = ""
    sent_version: str = ""
    in_flight: bool = False
    answered: bool = False  # the first request of a type always gets an answer, even an empty one
    diffed_version: str = ""  # the type version last compared with what the proxy holds
    dirty: bool = True  # the subscription changed since that comparison
    before_last: Held | None = None  # known, before the response in flight (restored if refused)


class DeltaStream(StreamBase[discovery_pb2.DeltaDiscoveryRequest]):
    mode = "delta"

    def __init__(self, parts: ServerParts, context: grpc.aio.ServicerContext, stream_id: int) -> None:
        super().__init__(parts, context, stream_id)
        self.types: dict[str, _DeltaType] = {}

    async def handle(self, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        type_url = request.type_url
        state = self.types.get(type_url)
        if state is None:
            state = self.types[type_url] = self._new_type(request)
        if request.response_nonce and request.response_nonce == state.nonce and state.in_flight:
            self._settle(state, request)
        self._subscribe(state, request)
        await self._push(type_url, state)

    @staticmethod
    def _new_type(request: discovery_pb2.DeltaDiscoveryRequest) -> _DeltaType:
        implicit_wildcard = (
            request.type_url in type_urls.WILDCARD_TYPES and not request.resource_names_subscribe
        )
        held = {sys.intern(name): version for name, version in request.initial_resource_versions.items()}
        return _DeltaType(wildcard=implicit_wildcard, known=Held(own=held))

    def _settle(self, state: _DeltaType, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        state.in_flight = False
        if request.HasField("error_detail"):
            _forget_refused(state)
            self.refused(request.type_url, state.sent_version, request.error_detail.message)
        else:
            state.before_last = None
            self.accepted(request.type_url, state.sent_version)

    def _subscribe(self, state: _DeltaType, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        subscribe, unsubscribe = request.resource_names_subscribe, request.resource_names_unsubscribe
        if not subscribe and not unsubscribe:
            return
        state.dirty = True
        names = set(state.names)
        for name in subscribe:
            if name == "*":
                state.wildcard = True
            else:
                names.add(name)
        for name in unsubscribe:
            if name == "*":
                state.wildcard = False
            else:
                names.discard(name)
                state.known = state.known.without(name)
                if state.before_last is not None:
                    state.before_last = state.before_last.without(name)
        state.names = self.parts.names.names(names)

    async def push_changes(self) -> None:
        for type_url in sorted(self.types, key=type_urls.push_rank):
            await self._push(type_url, self.types[type_url])

    async def resend(self, type_url: str) -> None:
        state = self.types.get(type_url)
        if state is not None and not state.in_flight:
            state.dirty = True  # diff again: what it refused is not known to be held (_forget_refused)
            await self._push(type_url, state)

    async def _push(self, type_url: str, state: _DeltaType) -> None:
        snapshot = self.snapshot()
        if state.in_flight or snapshot is None or type_url not in snapshot.resources:
            return
        version = snapshot.version(type_url)
        if version == state.diffed_version and not state.dirty and state.answered:
            return  # same content, same subscription: the diff would be empty (it is not cheap)
        started = time.perf_counter()
        entries = snapshot.entries(type_url)
        updated, removed = _diff(state, entries)
        state.diffed_version, state.dirty = version, False
        if not updated and not removed and state.answered:
            _remember(state, entries, updated, removed)  # the same holding, maybe shared now
            return
        nonce = self.next_nonce()
        response = discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=version,
            type_url=type_url,
            nonce=nonce,
            resources=[
                discovery_pb2.Resource(name=e.name, version=e.digest, resource=e.resource) for e in updated
            ],
            removed_resources=removed,
        )
        if version != state.sent_version:
            self.superseded(type_url)
        state.before_last = state.known
        _remember(state, entries, updated, removed)
        state.nonce, state.sent_version, state.in_flight, state.answered = nonce, version, True, True
        push = Push(type_url, version, nonce, len(updated), len(removed), changed_at=snapshot.changed_at)
        await self.send(response, push, started)

    def node_id_of(self, request: discovery_pb2.DeltaDiscoveryRequest) -> str:
        return str(request.node.id)


def _wanted(state: _DeltaType, entries: Mapping[str, Entry]) -> Collection[str]:
    return entries.keys() if state.wildcard else state.names & entries.keys()


def _diff(state: _DeltaType, entries: Mapping[str, Entry]) -> tuple[list[Entry], list[str]]:
    """Resources the proxy lacks or holds an old version of; names it holds (or awaits) that are gone."""
    known = state.known
    if known.is_exactly(entries) and all(
        name in entries or known.get(name) == _ABSENT for name in state.names
    ):
        return [], []  # it holds this very version (shared by every stream at it): nothing to compare
    wanted = _wanted(state, entries)
    updated = [entries[name] for name in sorted(wanted) if known.get(name) != entries[name].digest]
    candidates = {*known, *state.names}
    removed = sorted(name for name in candidates if name not in entries and known.get(name) != _ABSENT)
    return updated, removed


def _forget_refused(state: _DeltaType) -> None:
    """The proxy did not take what it refused: the next diff sends it again, with a new version too
    (a later delta carrying only other resources would otherwise be ACKed while it still lacks them)."""
    if state.before_last is not None:
        state.known, state.before_last = state.before_last, None


def _remember(
    state: _DeltaType, entries: Mapping[str, Entry], updated: list[Entry], removed: list[str]
) -> None:
    """What the proxy holds once it takes this push: every wanted entry at its version, and the names
    it subscribed to that do not exist marked as such (a gone name it did not ask for is forgotten:
    it was told, and nothing more is owed)."""
    absent = {name: _ABSENT for name in state.names if name not in entries}
    wanted = _wanted(state, entries)
    if len(wanted) == len(entries):  # the usual case: it holds this version, shared
        state.known = Held(entries, absent or _NONE)
        return
    held: dict[str, str | None] = {name: state.known.get(name) for name in state.known if name in entries}
    held.update((entry.name, entry.digest) for entry in updated)
    held.update(absent)
    state.known = Held(own=held)
