"""What one `build_model` hands the next: the explicit incremental state of the mesh layer.

Owns `BuildState` (immutable: the instances, the Service values and the resolved TrafficTargets of
one build, by node id and by namespace) and `ViewReuse` (the view layer's reuse: outbound services
by ServiceKey, indexes derived from model fields such as the reach index, and the interning of view
pieces; one object per chain of builds, owned by whoever passes the states along, e.g. one
`runtime.pipeline.Pipeline`).

`build_model(snapshot, instances, previous=state)` reads a state and puts the next one on the model
(`model.build_state`); nothing is kept in module globals, so two pipelines in one process never see
each other's builds, and a build without `previous` is a cold build. Every reuse is checked
against the new inputs (the resource is the same object or equal, the selected instances are
equal, the policies are equal): a state from any earlier build gives the same model as a cold
build, only faster.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from smimesh.diagnostics import Diagnostic

if TYPE_CHECKING:
    from smimesh.mesh.access import TrafficPolicy
    from smimesh.mesh.model import Instance, Protocol, Service, ServiceKey
    from smimesh.mesh.split import PortSplits
    from smimesh.mesh.view import OutboundService
    from smimesh.resources.access import TrafficTarget
    from smimesh.resources.core import Service as ServiceResource

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One Service value and what it was built from (its resource and the instances it selected)."""

    resource: ServiceResource
    selected: tuple[Instance, ...]
    service: Service
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class NamespaceServices:
    """The Services of one namespace as one build made them: their resources (in name order), their
    entries and values by key, what their endpoints' container ports speak and their diagnostics. A
    namespace whose resources are the same and whose instances did not change is taken whole."""

    resources: tuple[ServiceResource, ...]
    entries: Mapping[ServiceKey, ServiceEntry]
    services: Mapping[ServiceKey, Service]
    protocols: Mapping[tuple[str, int], Protocol]  # (node id, container port) -> protocol
    diagnostics: tuple[Diagnostic, ...]
    port_protocols: frozenset[Protocol] = frozenset()  # what the Services' ports speak (has the mesh UDP?)


@dataclass(frozen=True, slots=True)
class NamespacePolicies:
    """The TrafficTargets of one namespace as one build resolved them (in name order), with what they
    were resolved from: the namespace's TrafficTargets and route objects (a rule names a route of its
    own namespace). A namespace whose targets and routes are the same is taken whole."""

    resources: tuple[TrafficTarget, ...]
    routes: tuple[tuple[Any, ...], ...]
    entries: tuple[tuple[tuple[str, str], PolicyEntry], ...]  # ((namespace, name), entry)
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """One resolved TrafficTarget and what it was resolved from (itself and the routes it names)."""

    resource: TrafficTarget
    routes: tuple[Any, ...]
    policy: TrafficPolicy | None
    diagnostics: tuple[Diagnostic, ...]


def same(a: object, b: object) -> bool:
    """The same object, or an equal one (a source that decodes objects anew still gets reuse)."""
    return a is b or a == b


@dataclass(frozen=True, slots=True)
class OutboundEntry:
    service: Service
    splits: tuple[PortSplits | None, ...]
    outbound: OutboundService


class ViewReuse:
    """The view layer's reuse along one chain of builds (mutable; owned by that chain).

    - `outbound`: the OutboundService of each ServiceKey with the Service value and splits it was
      built from (reused while both are the same or equal);
    - `derived`: other indexes of one model field by name, with the field they came from
      (`mesh.visibility.derived`: reused while that field is equal, or patched);
    - `intern(value)`: the live equal value if there is one, so that successive views share their
      unchanged pieces and comparing an old and a new view (the pipeline's "did it change?") is an
      identity check instead of a deep walk. Keyed by the value's hash (content), holding only weak
      references: nothing outlives the views that use it.
    """

    def __init__(self) -> None:
        self.outbound: dict[ServiceKey, OutboundEntry] = {}
        self._interned: dict[int, weakref.ref[Any]] = {}
        # Other per-model indexes, by name: (the model field they were derived from, the index).
        self.derived: dict[object, tuple[Any, Any]] = {}

    def intern(self, value: _T) -> _T:
        key = hash(value)
        ref = self._interned.get(key)
        existing = ref() if ref is not None else None
        if existing is not None and existing == value:
            return existing  # type: ignore[no-any-return]
        self._interned[key] = weakref.ref(value, functools.partial(self._forget, key))
        return value

    def _forget(self, key: int, dead: weakref.ref[Any]) -> None:
        if self._interned.get(key) is dead:
            del self._interned[key]

    def keep_only(self, services: Mapping[ServiceKey, object]) -> None:
        """Drop the outbound services of deleted Services (called when they clearly outnumber the live),
        and the derived indexes when they clearly outnumber what live services and their identities'
        ports need (entries of deleted ones; each is rebuilt on first use)."""
        if len(self.outbound) > 2 * len(services) + 64:
            self.outbound = {k: v for k, v in self.outbound.items() if k in services}
        if len(self.derived) > 8 * len(services) + 4096:
            self.derived = {}


@dataclass(frozen=True, slots=True)
class BuildState:
    """What the next `build_model` may reuse from the build that made it (see the module docstring)."""

    instances: Mapping[str, Instance] = field(default_factory=dict)  # by node id
    namespaces: Mapping[str, NamespaceServices] = field(default_factory=dict)  # the Services, by namespace
    policy_namespaces: Mapping[str, NamespacePolicies] = field(default_factory=dict)  # TrafficTargets, by ns
    views: ViewReuse = field(default_factory=ViewReuse, compare=False)


__all__ = [
    "BuildState",
    "NamespaceServices",
    "OutboundEntry",
    "PolicyEntry",
    "ServiceEntry",
    "ViewReuse",
    "same",
]
