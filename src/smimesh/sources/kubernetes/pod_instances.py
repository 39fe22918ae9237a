"""The mesh's instances kept current per changed pod: `cluster.instances`, incrementally.

Owns `PodInstances`: told which pods and EndpointSlices changed (the informers' events), it
recomputes the instance of those pods only, instead of every pod of the cluster after every change
(at 1,000 pods and 100 endpoint changes a second, that full pass was an eighth of the controller's
CPU). Readiness is counted per pod from what each slice lists (a slice's previous contribution is
remembered, so a slice's change or deletion needs no old object). A Namespace change (membership)
recomputes every pod. The result equals `cluster.instances` over the same caches (property test in
tests/kubernetes/test_pod_instances.py), and an unchanged pod keeps its very `Instance` object, so
the model build finds it unchanged by identity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from smimesh.mesh.model import Instance
from smimesh.sources.kubernetes import cluster

Obj = Mapping[str, Any]
PodKey = tuple[str, str]  # (namespace, name)
InstanceOf = Callable[[Obj], Instance | None]


class PodInstances:
    """See the module docstring. `pod_changed` / `slice_changed` / `namespaces_changed`, then `current`."""

    def __init__(self, mesh: str, instance_of: InstanceOf = cluster.pod_instance) -> None:
        self.mesh, self._instance_of = mesh, instance_of
        self._by_slice: dict[tuple[str, str], tuple[tuple[PodKey, bool], ...]] = {}
        self._listed: Counter[PodKey] = Counter()  # slice addresses naming the pod
        self._ready: Counter[PodKey] = Counter()  # ... of which ready
        self._found: dict[PodKey, Instance] = {}
        self._inside: set[str] = set()
        self._dirty: set[PodKey] = set()
        self._everything = True  # the first `current` (and any namespace change) looks at every pod

    def pod_changed(self, key: PodKey) -> None:
        self._dirty.add(key)

    def namespaces_changed(self) -> None:
        self._everything = True

    def slice_changed(self, key: tuple[str, str], slice_: Obj | None) -> None:
        """Slice `key` is now `slice_` (None: deleted): recount the pods it lists, before and now."""
        before = self._by_slice.pop(key, ())
        now = tuple((e.pod, e.ready) for e in cluster.slice_addresses(slice_) if e.pod) if slice_ else ()
        if now:
            self._by_slice[key] = now
        self._count(before, -1)
        self._count(now, 1)

    def _count(self, pairs: Iterable[tuple[PodKey | None, bool]], step: int) -> None:
        for pod, ready in pairs:
            if pod is None:
                continue
            self._listed[pod] += step
            self._ready[pod] += step if ready else 0
            self._dirty.add(pod)

    def current(self, pods: Mapping[PodKey, Obj], namespaces: Iterable[Obj]) -> list[Instance]:
        """Every instance (sorted by node id, as `cluster.instances`), `pods` being the Pod cache."""
        if self._everything:
            meshed = (ns for ns in namespaces if cluster.meshed(ns, self.mesh))
            self._inside = {str((ns.get("metadata") or {}).get("name")) for ns in meshed}
            self._dirty, self._found, self._everything = set(pods), {}, False
        for key in self._dirty:
            instance = self._instance(key, pods.get(key))
            if instance is None:
                self._found.pop(key, None)
            elif self._found.get(key) != instance:
                self._found[key] = instance
        self._dirty = set()
        self._forget_unlisted()
        return sorted(self._found.values(), key=lambda i: i.node_id)

    def _instance(self, key: PodKey, pod: Obj | None) -> Instance | None:
        instance = self._instance_of(pod) if pod is not None and key[0] in self._inside else None
        if instance is None:
            return None
        listed = self._listed.get(key, 0) > 0
        serving = self._ready.get(key, 0) > 0 if listed else cluster.pod_condition_ready(pod or {})
        return instance if serving else replace(instance, labels=())

    def _forget_unlisted(self) -> None:
        """Drop zero counts now and then (pods that left every slice), so the counters stay small."""
        if len(self._listed) > 2 * len(self._found) + 64:
            self._listed = Counter({k: v for k, v in self._listed.items() if v > 0})
            self._ready = Counter({k: v for k, v in self._ready.items() if v > 0})
