"""`KubernetesSource`: the informers of every kind smimesh watches, feeding the pipeline.

SMI kinds (watched in their hub version: the API server converts whatever version each object was
written in), OSM's Egress (egress policy for pods; its CRD is OSM's, installed beside ours) and
Services go into the same `ResourceStore` as the file source, each object as its own
origin `kubernetes:<Kind>/<ns>/<name>` (so a manifest file of the same key wins, as between files).
An object that fails to load keeps its last good version (as a saved file does) and is reported;
a deletion deletes. `problems` holds each object's current problems (gone with a good version or
the object), for the Events the lease holder keeps. Namespaces, Pods, EndpointSlices and
ServiceAccounts are kept in their informers' caches; after a change of those, the instances of the
pods it concerns (`pod_instances.PodInstances`: a pod, the pods an EndpointSlice lists; every pod
after a Namespace change) and the namespace modes are recomputed and handed to `on_instances` /
`on_modes` (at most every `settle_s`).
Objects may arrive in any order: what is handed downstream always equals what the whole current
state gives (`cluster.instances`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.mesh.model import Instance
from smimesh.mesh.modes import NamespaceMode
from smimesh.resources import load_documents, registry
from smimesh.resources.crd import OSM_KINDS, smi_kinds
from smimesh.resources.document import Document
from smimesh.sources.files import log_report
from smimesh.sources.kubernetes import cluster
from smimesh.sources.kubernetes.client import KubeClient
from smimesh.sources.kubernetes.informer import Event, Informer
from smimesh.sources.kubernetes.pod_instances import PodInstances
from smimesh.sources.store import ResourceStore

ORIGIN_PREFIX = "kubernetes:"
Reporter = Callable[[Sequence[Diagnostic]], None]


@dataclass(frozen=True, slots=True)
class Watched:
    kind: str
    path: str  # the list/watch path, all namespaces


def hub_path(kind: str) -> str:
    info = registry.KINDS[kind]
    api = info.hub.API_VERSION
    return f"/apis/{api}/{info.plural}" if "/" in api else f"/api/{api}/{info.plural}"


def resource_kinds() -> list[Watched]:
    """What goes into the store: the SMI kinds, OSM's Egress and Services."""
    return [Watched(kind, hub_path(kind)) for kind in [*smi_kinds(), *OSM_KINDS, "Service"]]


CLUSTER_KINDS = (
    Watched("Namespace", "/api/v1/namespaces"),
    Watched("Pod", "/api/v1/pods"),
    Watched("EndpointSlice", "/apis/discovery.k8s.io/v1/endpointslices"),
    Watched("ServiceAccount", "/api/v1/serviceaccounts"),
)


def origin_of(kind: str, obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{ORIGIN_PREFIX}{kind}/{meta.get('namespace', '')}/{meta.get('name', '')}"


class KubernetesSource:
    """See the module docstring. `await run()` until cancelled; `await wait_synced()`."""

    def __init__(
        self,
        client: KubeClient,
        store: ResourceStore,
        *,
        mesh: str = "smimesh",
        on_instances: Callable[[list[Instance]], None] | None = None,
        on_modes: Callable[[tuple[NamespaceMode, ...]], None] | None = None,
        report: Reporter = log_report,
        settle_s: float = 0.02,
    ) -> None:
        self.store = store
        self.mesh = mesh
        self._on_instances = on_instances
        self._on_modes = on_modes
        self._report = report
        self.problems: dict[str, list[Diagnostic]] = {}  # origin -> its current version's problems
        self._pod_memo: dict[tuple[Any, Any], tuple[Any, Instance | None]] = {}  # pod -> (version, instance)
        self._pods = PodInstances(mesh, self._instance_of)
        self._settle_s = settle_s
        self._dirty = asyncio.Event()
        self.instances: list[Instance] = []
        self.modes: tuple[NamespaceMode, ...] = ()
        self.informers: dict[str, Informer] = {}
        for watched in resource_kinds():
            self.informers[watched.kind] = Informer(
                client,
                watched.path,
                self._resource_handler(watched.kind),
                name=watched.kind,
                optional=watched.kind in OSM_KINDS,  # a cluster installed before they were watched
            )
        for watched in CLUSTER_KINDS:
            self.informers[watched.kind] = Informer(
                client, watched.path, self._cluster_handler(watched.kind), name=watched.kind
            )

    # ---- running ------------------------------------------------------------------------------------

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run(), name=f"informer {k}") for k, i in self.informers.items()]
        tasks.append(asyncio.create_task(self._publish_cluster(), name="kubernetes instances"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def wait_synced(self) -> None:
        """Until every informer has listed once and the instances of that state are published."""
        for informer in self.informers.values():
            await informer.synced.wait()
        self.publish_now()

    async def list_once(self) -> None:
        """One list of every kind, applied (for one-shot readers such as `smimesh analyze`); raises
        `KubeApiError` / `httpx.HTTPError` if a list fails."""
        for informer in self.informers.values():
            await informer.relist()
        self.publish_now()

    def cache(self, kind: str) -> list[dict[str, Any]]:
        return list(self.informers[kind].cache.values())

    # ---- SMI kinds and Services -> the store --------------------------------------------------------

    def _resource_handler(self, kind: str) -> Callable[[list[Event]], Any]:
        async def handle(events: list[Event]) -> None:
            with self.store.batch():
                for event in events:
                    await self._apply(kind, event)

        return handle

    async def _apply(self, kind: str, event: Event) -> None:
        origin = origin_of(kind, event.obj)
        self.problems.pop(origin, None)  # a new version (or none): its old problems are gone
        if event.type == "DELETED":
            await self.store.remove_origin(origin)
            return
        result = load_documents([Document(event.obj, origin, 0)], references=False)
        if not result.ok:
            self._problems(origin, result.diagnostics)  # the last good version (if any) stays in force
            return
        problems = await self.store.replace_origin(origin, result.objects)
        if problems or result.diagnostics:
            self._problems(origin, [*result.diagnostics, *problems])

    def _problems(self, origin: str, diagnostics: list[Diagnostic]) -> None:
        self.problems[origin] = diagnostics
        self._report(diagnostics)

    # ---- Namespaces, Pods, EndpointSlices -> instances ----------------------------------------------

    def _instance_of(self, pod: Mapping[str, Any]) -> Instance | None:
        """`cluster.pod_instance`, remembered per pod version: an endpoint change re-reads no pod."""
        meta = pod.get("metadata") or {}
        key, version = (meta.get("namespace"), meta.get("name")), meta.get("resourceVersion")
        hit = self._pod_memo.get(key)
        if hit is not None and version is not None and hit[0] == version:
            return hit[1]
        instance = cluster.pod_instance(pod)
        self._pod_memo[key] = (version, instance)
        return instance

    def _cluster_handler(self, kind: str) -> Callable[[list[Event]], Any]:
        """Tell `PodInstances` what an event of `kind` concerns, and wake the publisher."""

        async def handle(events: list[Event]) -> None:
            for event in events:
                if kind == "Pod":
                    self._pods.pod_changed(event.key)
                elif kind == "EndpointSlice":
                    self._pods.slice_changed(event.key, None if event.type == "DELETED" else event.obj)
                elif kind == "Namespace":
                    self._pods.namespaces_changed()
            self._dirty.set()

        return handle

    async def _publish_cluster(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self._settle_s)  # let a burst of pod/slice events land first
            self._dirty.clear()
            self.publish_now()

    def publish_now(self) -> None:
        namespaces, pods = self.cache("Namespace"), self.informers["Pod"].cache
        found = self._pods.current(pods, namespaces)
        if len(self._pod_memo) > 2 * len(pods):  # forget deleted pods now and then
            self._pod_memo = {k: v for k, v in self._pod_memo.items() if k in pods}
        modes = tuple(
            m
            for ns in namespaces
            if cluster.meshed(ns, self.mesh)
            if (m := cluster.namespace_mode(ns)) is not None
        )
        if found != self.instances:
            self.instances = found
            if self._on_instances is not None:
                self._on_instances(found)
        if modes != self.modes:
            self.modes = modes
            if self._on_modes is not None:
                self._on_modes(modes)
