"""The pipeline: store change -> debounce -> model -> per-proxy view -> config -> snapshot -> cache.

Owns `Pipeline`, the one long-lived task that turns the resources in force (and the workload
instances the local runtime reports) into a published `Snapshot` per sidecar. It recomputes only
the proxies whose frozen `ProxyView` changed (an equal view means equal config: no generation, no
push), computes snapshots for every KNOWN node (every instance) so a sidecar finds its config
ready when it connects, and, given an `affected(old_model, new_model)` index (the default for the
plain `mesh.proxy_view`: `mesh.impact.affected_nodes`), computes views only for the nodes a change
can affect (plus any node without a published view), so a change nobody sees computes no view;
and refuses to publish a snapshot that fails `consistency_errors()`: the
last good one stays in force and a diagnostic says why. `build_model`, `proxy_view` and `generate`
are parameters (the real ones by default) so the pipeline is tested with small fakes.

The pipeline owns its incremental state and passes it in explicitly: each `build_model` gets
`previous=` the `build_state` of the last model it built (mesh/reuse.py: Service values, resolved
TrafficTargets, the view layer's reuse), and every `Snapshot.build` gets the pipeline's own
`EntryInterner`. Two pipelines in one process therefore share nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypedDict

from smimesh.diagnostics import Diagnostic, Location, ObjectRef, Severity, register
from smimesh.mesh import build_model as _build_model
from smimesh.mesh import proxy_view as _proxy_view
from smimesh.mesh.impact import affected_nodes
from smimesh.resources import InputSnapshot, ResourceKey
from smimesh.runtime.debounce import Debouncer, wait_until_due
from smimesh.runtime.quarantine import Quarantine
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.xds import generate as _generate
from smimesh.xds.snapshot import EntryInterner, Snapshot

log = logging.getLogger(__name__)

# Proxies computed between two yields to the event loop: small enough that pushing starts early,
# large enough that the yields cost nothing measurable.
_CHUNK = 50
# Passes redone after holding back the objects that made a sidecar's config fail, at most.
_BLAME_ROUNDS = 5

INCONSISTENT_SNAPSHOT = register(
    "SM7201",
    "Inconsistent proxy config refused",
    Severity.ERROR,
    """The configuration computed for a sidecar references a route configuration or an endpoint set
    that it does not contain, so Envoy would wait for it forever. smimesh did not publish it: the
    sidecar keeps its last good configuration. This is a bug in smimesh; please report it with the
    manifests that caused it.""",
)
GENERATION_FAILED = register(
    "SM7202",
    "Config generation failed for a sidecar",
    Severity.ERROR,
    """Building the Envoy configuration of a sidecar raised an internal error that no recently changed
    object explains (otherwise that object is held back: SM7204). The sidecar keeps its last good
    configuration (`smimesh proxy-status` shows it as ERROR) and the other sidecars are unaffected.
    This is a bug in smimesh; please report it with the manifests that caused it.""",
)
MODEL_FAILED = register(
    "SM7203",
    "Mesh model build failed",
    Severity.ERROR,
    """Building the mesh model from the resources in force raised an internal error. Every sidecar
    keeps its last good configuration; the next change is tried again. This is a bug in smimesh;
    please report it with the manifests that caused it.""",
)


HELD_BACK = register(
    "SM7204",
    "Object held back: its Envoy config cannot be generated",
    Severity.ERROR,
    """Turning this object into Envoy configuration failed (the message says how), so smimesh keeps
    its last good version in force, or leaves it out if it never had one, and every sidecar gets its
    new configuration without it. Fix the object (or delete it): the next version is tried at once.
    `smimesh validate` knows Envoy's limits; if it accepts an object that fails here, please report
    it as a bug with the manifest.""",
)


class StoreLike(Protocol):
    """What the pipeline needs of `sources.store.ResourceStore`."""

    def snapshot(self) -> Any: ...

    def subscribe(self) -> AsyncIterator[Any]: ...


BuildModel = Callable[..., Any]
ProxyViewFn = Callable[[Any, str], Any]
Generate = Callable[[Any], dict[str, list[Any]]]
Report = Callable[[list[Diagnostic]], None]
# (previous model, new model) -> the node ids whose view may differ (a superset), or None for all.
Affected = Callable[[Any, Any], Collection[str] | None]


class Steps(TypedDict):
    """The four functions a `Pipeline` runs instead of its plain defaults (`MeshSecurity.pipeline_steps`)."""

    build_model: BuildModel
    proxy_view: ProxyViewFn
    generate: Generate
    affected: Affected | None


@dataclass(slots=True)
class PipelineStats:
    builds: int = 0
    proxies_recomputed: int = 0
    proxies_unchanged: int = 0
    proxies_skipped: int = 0  # not affected by the change: no view computed
    snapshots_refused: int = 0
    last_build_s: float = 0.0


class Pipeline:
    """Keeps the `SnapshotCache` in step with the store and the running instances."""

    def __init__(
        self,
        store: StoreLike,
        cache: SnapshotCache,
        *,
        settings: Settings,
        build_model: BuildModel = _build_model,
        proxy_view: ProxyViewFn = _proxy_view,
        generate: Generate = _generate,
        report: Report | None = None,
        clock: Callable[[], float] = time.monotonic,
        affected: Affected | None = None,
        failed_nodes: Callable[[dict[str, str]], None] | None = None,
    ) -> None:
        self.store, self.cache, self.settings = store, cache, settings
        self._tell_failed = failed_nodes  # told after each pass: sidecars whose config failed, and why
        self._build_model, self._proxy_view, self._generate = build_model, proxy_view, generate
        self._report, self._clock = report, clock
        # Only the plain view's dependencies are indexed; any other view function recomputes all nodes.
        self._affected = affected if affected is not None or proxy_view is not _proxy_view else affected_nodes
        self._base_model: Any = None  # the model every published view was computed from (or None)
        self._debouncer = Debouncer(settings.debounce_quiet_s, settings.debounce_max_wait_s)
        self._wake = asyncio.Event()
        self._oldest_change: float | None = None
        self._instances: tuple[Any, ...] = ()
        self._pass_instances: tuple[Any, ...] = ()  # the instances the running pass builds for
        self._views: dict[str, Any] = {}
        self._reported: set[Diagnostic] = set()
        self._quarantine = Quarantine()
        self._effective: Any = None  # what the model was built from (store minus held-back objects)
        self._failed: dict[str, Diagnostic] = {}  # node -> why its config failed in the last pass
        self.model: Any = None
        self._state: Any = None  # what the next build_model may reuse: the last model's build_state
        self.interner = EntryInterner()  # serializes each message shared by sidecars/rebuilds once
        # The instances the config in the cache was computed from (set once a pass has finished):
        # an instance is an endpoint in the sidecars' config only once it is here with its labels.
        self.published_instances: tuple[Any, ...] = ()
        self.diagnostics: list[Diagnostic] = []
        self.stats = PipelineStats()
        self.built = asyncio.Event()  # set after every rebuild (tests and start-up wait on it)
        self.built_generation = -1  # the store generation the last complete pass was built from

    def set_instances(self, instances: Iterable[Any]) -> None:
        """The workload instances now running (or about to): triggers a debounced rebuild."""
        self._instances = tuple(instances)
        self.mark_changed()

    def mark_changed(self, changed_at: float | None = None) -> None:
        """Something the config depends on changed at `changed_at` (monotonic; default now)."""
        now = self._clock()
        at = now if changed_at is None else changed_at
        self._oldest_change = at if self._oldest_change is None else min(self._oldest_change, at)
        self._debouncer.changed(now)
        self._wake.set()

    async def run(self) -> None:
        """Follow the store and rebuild after each debounced burst, until cancelled."""
        follower = asyncio.create_task(self._follow_store(), name="pipeline-store-follower")
        try:
            while True:
                await wait_until_due(self._debouncer, self._wake, self._clock)
                self._debouncer.take()
                changed_at, self._oldest_change = self._oldest_change or self._clock(), None
                await self._rebuild_or_report(changed_at)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def _rebuild_or_report(self, changed_at: float) -> None:
        try:
            await self.rebuild_async(changed_at)
        except Exception as error:  # a bug must not stop the pipeline: the last good config stays
            log.exception("rebuilding the mesh model failed")
            message = f"{MODEL_FAILED.title}: {type(error).__name__}: {error}"
            self._set_diagnostics([Diagnostic(MODEL_FAILED.code, message, object=ObjectRef("Mesh"))])
            self.built.set()

    async def _follow_store(self) -> None:
        async for change in self.store.subscribe():
            self.mark_changed(getattr(change, "changed_at", None))

    def rebuild(self, changed_at: float) -> None:
        """One pass: model, then each known node's view; publish what changed (synchronous)."""
        for _ in self._rebuild_steps(changed_at):
            pass

    async def rebuild_async(self, changed_at: float) -> None:
        """`rebuild()`, yielding to the event loop between chunks of proxies.

        Streams start pushing the first proxies' config while later ones are still computed, and
        the loop stays responsive (other streams, the API) during a large rebuild.
        """
        for _ in self._rebuild_steps(changed_at):
            await asyncio.sleep(0)

    def _rebuild_steps(self, changed_at: float) -> Iterator[None]:
        started = time.perf_counter()
        generation = getattr(self.store, "generation", -1)  # read with the snapshot: no await between
        stored = self.store.snapshot()
        self._pass_instances = self._instances  # set_instances may replace them while this pass yields
        base, self._base_model = self._base_model, None  # stays None if this pass does not finish
        nodes = [str(instance.node_id) for instance in self._pass_instances]
        self._build(stored)
        yield from self._refresh(self._nodes_to_refresh(base, nodes), changed_at)
        for _ in range(_BLAME_ROUNDS):  # again without the culprits (several may fail different nodes)
            if not (self._failed and self._hold_back_culprits(stored)):
                break
            self._build(stored)
            yield from self._refresh(nodes, changed_at)
        for gone in set(self._views) - set(nodes):
            del self._views[gone]
            self.cache.clear(gone)
        self.interner.release_unheld()  # the pass's messages that no generator cache keeps
        problems = [*self._failed.values(), *self._held_diagnostics(stored)]
        if self._tell_failed is not None:
            self._tell_failed(self.failed_nodes)
        self._set_diagnostics([*getattr(self.model, "diagnostics", ()), *problems])
        self._base_model = self.model if not self._failed else None
        if not self._failed and isinstance(self._effective, InputSnapshot):
            self._quarantine.remember_good(self._effective)
        self.published_instances = self._pass_instances
        self.built_generation = generation
        self.stats.builds += 1
        self.stats.last_build_s = time.perf_counter() - started
        self.built.set()

    def _build(self, stored: Any) -> None:
        """The model of what is in force: the store's resources minus the objects held back."""
        quarantined = isinstance(stored, InputSnapshot)
        self._effective = self._quarantine.effective(stored) if quarantined else stored
        self.model = self._model_of(self._effective)
        self._state = getattr(self.model, "build_state", None)

    def _model_of(self, snapshot: Any) -> Any:
        """A model of `snapshot`; reuses the last build's state (a trial build's is not kept)."""
        return self._build_model(
            snapshot, self._pass_instances, trust_domain=self.settings.trust_domain, previous=self._state
        )

    def _refresh(self, nodes: list[str], changed_at: float) -> Iterator[None]:
        self._failed = {}
        for index, node_id in enumerate(nodes, 1):
            self._refresh_node(node_id, changed_at)
            if index % _CHUNK == 0:
                yield

    def _hold_back_culprits(self, stored: Any) -> bool:
        """Blame the objects whose change made a sidecar's config fail; True if any is now held back."""
        if not isinstance(stored, InputSnapshot):
            return False
        node_id, failure = next(iter(self._failed.items()))
        culprits = self._quarantine.find_culprits(stored, partial(self._generates, node_id))
        if culprits:
            reason = failure.message.split(": ", 1)[-1]  # the error, without the title
            self._quarantine.hold(stored, culprits, reason)
        return bool(culprits)

    def _generates(self, node_id: str, snapshot: InputSnapshot) -> bool:
        """A trial build: does `node_id`'s config generate (consistently) from `snapshot`?"""
        try:
            view = self._proxy_view(self._model_of(snapshot), node_id)
            built = Snapshot.build(self._generate(view), interner=self.interner)
        except Exception:  # what we are looking for: this snapshot still fails
            return False
        return not built.consistency_errors()

    def _nodes_to_refresh(self, base: Any, nodes: list[str]) -> list[str]:
        """Every node, or (after a complete pass without problems) the affected ones and any node
        that has no published view yet."""
        affected = None if base is None or self._affected is None else self._affected(base, self.model)
        if affected is None:
            return nodes
        chosen = [node for node in nodes if node in affected or node not in self._views]
        self.stats.proxies_skipped += len(nodes) - len(chosen)
        return chosen

    def _refresh_node(self, node_id: str, changed_at: float) -> None:
        try:
            view = self._proxy_view(self.model, node_id)
            if node_id in self._views and self._views[node_id] == view:
                self.stats.proxies_unchanged += 1
                return
            snapshot = Snapshot.build(self._generate(view), changed_at=changed_at, interner=self.interner)
        except Exception as error:  # a generator bug must not take the other proxies down
            log.debug("config generation failed for %s", node_id, exc_info=True)  # no traceback for users
            detail = f"{type(error).__name__}: {error}"
            self._failed[node_id] = _diagnostic(GENERATION_FAILED, node_id, detail)
            return
        errors = snapshot.consistency_errors()
        if errors:
            self.stats.snapshots_refused += 1
            self._failed[node_id] = _diagnostic(INCONSISTENT_SNAPSHOT, node_id, "; ".join(map(str, errors)))
            return
        self._views[node_id] = view
        self.stats.proxies_recomputed += 1
        self.cache.set_snapshot(node_id, snapshot)

    def _held_diagnostics(self, stored: Any) -> list[Diagnostic]:
        held = self._quarantine
        return [
            _held_back(key, stored.location(key), held.reasons.get(key, ""), key in held.last_good)
            for key in held.held
        ]

    @property
    def failed_nodes(self) -> dict[str, str]:
        """Sidecars whose current config could not be generated (they keep their last one): why."""
        return {node: d.message.split(": ", 1)[-1] for node, d in self._failed.items()}

    @property
    def held_back(self) -> dict[str, str]:
        """Objects held back (`Kind/ns/name`): why their config cannot be generated."""
        return {str(key): reason for key, reason in self._quarantine.reasons.items()}

    def _set_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        fresh = [d for d in diagnostics if d not in self._reported]
        self._reported = set(diagnostics)
        if fresh and self._report is not None:
            self._report(fresh)


def _diagnostic(info: Any, node_id: str, detail: str) -> Diagnostic:
    return Diagnostic(
        info.code,
        f"{info.title}: {detail}",  # the location names the sidecar
        location=Location(f"sidecar {node_id}"),
        object=ObjectRef("Sidecar", name=node_id),
        hint="the sidecar keeps its last good configuration; the other sidecars are unaffected",
    )


def _held_back(key: ResourceKey, location: Location, reason: str, had_good: bool) -> Diagnostic:
    kept = "its last good version stays in force" if had_good else "it is left out (it never worked)"
    return Diagnostic(
        HELD_BACK.code,
        f"{key}: its Envoy config cannot be generated ({reason}); {kept}",
        location=location,
        object=ObjectRef(key.kind, key.namespace, key.name),
        hint="fix or delete it: every other object is in force; `smimesh validate` names the field",
    )
