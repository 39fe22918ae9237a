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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from smimesh.diagnostics import Diagnostic, ObjectRef, Severity, register
from smimesh.mesh import build_model as _build_model
from smimesh.mesh import proxy_view as _proxy_view
from smimesh.mesh.impact import affected_nodes
from smimesh.runtime.debounce import Debouncer, wait_until_due
from smimesh.server.cache import SnapshotCache
from smimesh.settings import Settings
from smimesh.xds import generate as _generate
from smimesh.xds.snapshot import Snapshot

log = logging.getLogger(__name__)

# Proxies computed between two yields to the event loop: small enough that pushing starts early,
# large enough that the yields cost nothing measurable.
_CHUNK = 50

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
    """Building the Envoy configuration of a sidecar raised an internal error. The sidecar keeps its
    last good configuration and the other sidecars are unaffected. This is a bug in smimesh; please
    report it with the manifests that caused it.""",
)
MODEL_FAILED = register(
    "SM7203",
    "Mesh model build failed",
    Severity.ERROR,
    """Building the mesh model from the resources in force raised an internal error. Every sidecar
    keeps its last good configuration; the next change is tried again. This is a bug in smimesh;
    please report it with the manifests that caused it.""",
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
    ) -> None:
        self.store, self.cache, self.settings = store, cache, settings
        self._build_model, self._proxy_view, self._generate = build_model, proxy_view, generate
        self._report, self._clock = report, clock
        # Only the plain view's dependencies are indexed; any other view function recomputes all nodes.
        self._affected = affected if affected is not None or proxy_view is not _proxy_view else affected_nodes
        self._base_model: Any = None  # the model every published view was computed from (or None)
        self._debouncer = Debouncer(settings.debounce_quiet_s, settings.debounce_max_wait_s)
        self._wake = asyncio.Event()
        self._oldest_change: float | None = None
        self._instances: tuple[Any, ...] = ()
        self._views: dict[str, Any] = {}
        self._reported: set[Diagnostic] = set()
        self.model: Any = None
        # The instances the config in the cache was computed from (set once a pass has finished):
        # an instance is an endpoint in the sidecars' config only once it is here with its labels.
        self.published_instances: tuple[Any, ...] = ()
        self.diagnostics: list[Diagnostic] = []
        self.stats = PipelineStats()
        self.built = asyncio.Event()  # set after every rebuild (tests and start-up wait on it)

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
        snapshot = self.store.snapshot()
        instances = self._instances  # set_instances may replace them while this pass yields
        self.model = self._build_model(snapshot, instances, trust_domain=self.settings.trust_domain)
        base, self._base_model = self._base_model, None  # stays None if this pass does not finish
        problems: list[Diagnostic] = []
        nodes = [str(instance.node_id) for instance in instances]
        for index, node_id in enumerate(self._nodes_to_refresh(base, nodes), 1):
            problems += self._refresh_node(node_id, changed_at)
            if index % _CHUNK == 0:
                yield
        for gone in set(self._views) - set(nodes):
            del self._views[gone]
            self.cache.clear(gone)
        self._set_diagnostics([*getattr(self.model, "diagnostics", ()), *problems])
        self._base_model = self.model if not problems else None
        self.published_instances = instances
        self.stats.builds += 1
        self.stats.last_build_s = time.perf_counter() - started
        self.built.set()

    def _nodes_to_refresh(self, base: Any, nodes: list[str]) -> list[str]:
        """Every node, or (after a complete pass without problems) the affected ones and any node
        that has no published view yet."""
        affected = None if base is None or self._affected is None else self._affected(base, self.model)
        if affected is None:
            return nodes
        chosen = [node for node in nodes if node in affected or node not in self._views]
        self.stats.proxies_skipped += len(nodes) - len(chosen)
        return chosen

    def _refresh_node(self, node_id: str, changed_at: float) -> list[Diagnostic]:
        try:
            view = self._proxy_view(self.model, node_id)
            if node_id in self._views and self._views[node_id] == view:
                self.stats.proxies_unchanged += 1
                return []
            snapshot = Snapshot.build(self._generate(view), changed_at=changed_at)
        except Exception as error:  # a generator bug must not take the other proxies down
            log.exception("config generation failed for %s", node_id)
            return [_diagnostic(GENERATION_FAILED.code, node_id, f"{type(error).__name__}: {error}")]
        errors = snapshot.consistency_errors()
        if errors:
            self.stats.snapshots_refused += 1
            return [_diagnostic(INCONSISTENT_SNAPSHOT.code, node_id, "; ".join(map(str, errors)))]
        self._views[node_id] = view
        self.stats.proxies_recomputed += 1
        self.cache.set_snapshot(node_id, snapshot)
        return []

    def _set_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        fresh = [d for d in diagnostics if d not in self._reported]
        self._reported = set(diagnostics)
        if fresh and self._report is not None:
            self._report(fresh)


def _diagnostic(code: str, node_id: str, detail: str) -> Diagnostic:
    title = INCONSISTENT_SNAPSHOT.title if code == INCONSISTENT_SNAPSHOT.code else GENERATION_FAILED.title
    return Diagnostic(
        code,
        f"{title} for sidecar {node_id}: {detail}",
        object=ObjectRef("Sidecar", name=node_id),
        hint="the sidecar keeps its last good configuration",
    )
