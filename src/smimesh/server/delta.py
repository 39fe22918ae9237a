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

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc
from envoy.service.discovery.v3 import discovery_pb2

from smimesh.server.hooks import Push
from smimesh.server.stream import ServerParts, StreamBase
from smimesh.xds import type_urls
from smimesh.xds.snapshot import Entry

_ABSENT = ""  # a known "version" meaning: the proxy was told this resource does not exist


@dataclass(slots=True)
class _DeltaType:
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    known: dict[str, str] = field(default_factory=dict)
    nonce: str = ""
    sent_version: str = ""
    in_flight: bool = False
    answered: bool = False  # the first request of a type always gets an answer, even an empty one
    diffed_version: str = ""  # the type version last compared with what the proxy holds
    dirty: bool = True  # the subscription changed since that comparison
    before_last: dict[str, str | None] = field(default_factory=dict)  # known, before the last push


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
        return _DeltaType(wildcard=implicit_wildcard, known=dict(request.initial_resource_versions))

    def _settle(self, state: _DeltaType, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        state.in_flight = False
        if request.HasField("error_detail"):
            _forget_refused(state)
            self.refused(request.type_url, state.sent_version, request.error_detail.message)
        else:
            self.accepted(request.type_url, state.sent_version)

    @staticmethod
    def _subscribe(state: _DeltaType, request: discovery_pb2.DeltaDiscoveryRequest) -> None:
        if request.resource_names_subscribe or request.resource_names_unsubscribe:
            state.dirty = True
        for name in request.resource_names_subscribe:
            if name == "*":
                state.wildcard = True
            else:
                state.names.add(name)
        for name in request.resource_names_unsubscribe:
            if name == "*":
                state.wildcard = False
            else:
                state.names.discard(name)
                state.known.pop(name, None)

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
        updated, removed = _diff(state, snapshot.entries(type_url))
        state.diffed_version, state.dirty = version, False
        if not updated and not removed and state.answered:
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
        _remember(state, updated, removed)
        state.nonce, state.sent_version, state.in_flight, state.answered = nonce, version, True, True
        push = Push(type_url, version, nonce, len(updated), len(removed), changed_at=snapshot.changed_at)
        await self.send(response, push, started)

    def node_id_of(self, request: discovery_pb2.DeltaDiscoveryRequest) -> str:
        return str(request.node.id)


def _diff(state: _DeltaType, entries: Mapping[str, Entry]) -> tuple[list[Entry], list[str]]:
    """Resources the proxy lacks or holds an old version of; names it holds (or awaits) that are gone."""
    wanted = entries.keys() if state.wildcard else state.names & entries.keys()
    updated = [entries[name] for name in sorted(wanted) if state.known.get(name) != entries[name].digest]
    candidates = set(state.known) | state.names
    removed = sorted(name for name in candidates if name not in entries and state.known.get(name) != _ABSENT)
    return updated, removed


def _forget_refused(state: _DeltaType) -> None:
    """The proxy did not take what it refused: the next diff sends it again, with a new version too
    (a later delta carrying only other resources would otherwise be ACKed while it still lacks them)."""
    for name, version in state.before_last.items():
        if version is None:
            state.known.pop(name, None)
        else:
            state.known[name] = version
    state.before_last = {}


def _remember(state: _DeltaType, updated: list[Entry], removed: list[str]) -> None:
    state.before_last = {name: state.known.get(name) for name in [*(e.name for e in updated), *removed]}
    for entry in updated:
        state.known[entry.name] = entry.digest
    for name in removed:
        state.known[name] = _ABSENT
