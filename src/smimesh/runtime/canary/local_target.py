"""Local mode's canary platform: Workloads are the targets, the resource store holds what is derived.

Naming scheme (Flagger's): the target Workload `<target>` is the canary revision; the controller
adds `<target>-primary` (the promoted revision, its selector label `app`/`name`/
`app.kubernetes.io/name` given the value `<value>-primary`), the Services `<svc>` (apex),
`<svc>-primary` and `<svc>-canary` from `spec.service`, the TrafficSplit `<svc>` over the last two,
and for A/B an HTTPRouteGroup and a TrafficSplit `<svc>-ab` with `matches`. They are written into
the store under the origin `canary:<ns>/<name>`, so the pipeline, `smimesh get`, explain and the
metrics see them like any object; a file that defines one of those names keeps it.

While no analysis runs the target is scaled to 0 (Flagger does the same): `MaskedStore` is the
store as the Workload reconciler sees it, with those Workloads at 0 replicas. Each write also
stamps the TrafficSplit with the phase, so a change of what runs is a store change that wakes the
reconciler.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import re2

from smimesh.diagnostics import Diagnostic
from smimesh.local.plan import workload_spec
from smimesh.resources import InputSnapshot, ResourceKey, load_documents
from smimesh.resources.canary import Canary
from smimesh.resources.document import Document
from smimesh.resources.workload import Workload
from smimesh.runtime.canary import local_revision as rev
from smimesh.runtime.canary.target import Revision, Routing
from smimesh.sources.changes import Subscription
from smimesh.sources.store import ResourceStore

SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")
PHASE_ANNOTATION = "smimesh.io/canary-phase"
SET_COOKIE_ANNOTATION = "smimesh.io/set-cookie"  # read by mesh/build_splits.py
MIRROR_ANNOTATION = "smimesh.io/mirror"  # read by mesh/build_splits.py


def origin_of(key: ResourceKey) -> str:
    return f"canary:{key.namespace}/{key.name}"


def checksum(spec: dict[str, Any]) -> str:
    """Flagger-like checksum of what the target runs (replicas excluded: scaling is no new revision)."""
    content = {**spec, "spec": {k: v for k, v in spec.get("spec", {}).items() if k != "replicas"}}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:10]


def selector_label(labels: dict[str, str]) -> str | None:
    return next((key for key in SELECTOR_LABELS if key in labels), None)


class LocalTarget:
    """`TargetRevisions` + `SplitWriter` over the resource store (see the module docstring)."""

    def __init__(self, store: ResourceStore, directory: Path, serving: Callable[[str], bool]) -> None:
        self.store, self.directory, self.serving = store, directory, serving
        self._idle_targets: dict[ResourceKey, ResourceKey] = {}  # canary -> target Workload at 0
        self._written: dict[ResourceKey, list[dict[str, Any]]] = {}  # what each canary wrote last
        self._revisions: dict[ResourceKey, tuple[Workload, Revision]] = {}  # per unchanged target
        self._stable: dict[ResourceKey, Workload] = {}  # naming "revision": what the target runs

    # ---- TargetRevisions ----------------------------------------------------------------------
    def workload(self, canary: Canary) -> Workload | None:
        found = self.store.get(_target_key(canary))
        return found.resource if found is not None and isinstance(found.resource, Workload) else None

    def revision(self, canary: Canary) -> Revision | None:
        workload = self.workload(canary)
        if workload is None:
            return None
        cached = self._revisions.get(canary.key)
        if cached is not None and cached[0] is workload:  # the store hands unchanged objects over as is
            return cached[1]
        revision = self._revision(workload)
        self._revisions[canary.key] = (workload, revision)
        return revision

    def _revision(self, workload: Workload) -> Revision:
        stored = self.store.get(workload.key)
        manifest = stored.obj.location.file if stored is not None else None
        cwd = workload_spec(workload, manifest, self.directory).cwd
        spec = workload.to_dict()
        spec["spec"]["workingDir"] = str(cwd)  # the primary copy runs where the target runs
        body = {"metadata": {"labels": spec["metadata"].get("labels", {})}, "spec": spec["spec"]}
        return Revision(checksum(body), body)

    def problem(self, canary: Canary) -> str:
        workload = self.workload(canary)
        if workload is None:
            return f"Workload {canary.spec.target_ref.name}.{canary.metadata.namespace} not found"
        if selector_label(workload.metadata.labels) is None:
            return (
                f"Workload {workload.metadata.name}.{workload.metadata.namespace} has none of the "
                f"labels {', '.join(SELECTOR_LABELS)}: the -canary Service could not select it"
            )
        return ""

    def ready(self, canary: Canary, role: str) -> bool:
        workload = self.workload(canary)
        if workload is None:
            return False
        suffix = (
            {"primary": "", "canary": "-canary"} if rev.uses_revisions(canary) else {"primary": "-primary"}
        )
        name = workload.metadata.name + suffix.get(role, "")
        replicas = max(workload.spec.replicas, 1)
        return all(self.serving(f"{name}-{i}.{workload.metadata.namespace}") for i in range(replicas))

    # ---- SplitWriter --------------------------------------------------------------------------
    async def write(self, canary: Canary, routing: Routing) -> list[Diagnostic]:
        workload = self.workload(canary)
        if workload is None or routing.primary_spec is None:
            return []
        if routing.canary_runs:
            self._idle_targets.pop(canary.key, None)
        else:
            self._idle_targets[canary.key] = workload.key
        self._stable.pop(canary.key, None)
        if rev.uses_revisions(canary):  # the target runs the promoted spec (local_revision.py)
            stable = rev.stable_workload(workload, routing.primary_spec, checksum(routing.primary_spec))
            self._stable[canary.key] = stable
            self._idle_targets.pop(canary.key, None)
        current = self.revision(canary)
        assert current is not None
        documents = derived_documents(canary, workload, routing, current)
        if self._written.get(canary.key) == documents:
            return []  # most passes change nothing: no YAML, no store write
        self._written[canary.key] = documents
        source = f"<canary {canary.key}>"
        # Documents straight to the loader (no YAML text): the same checks, a fraction of the CPU
        copies = [Document(json.loads(json.dumps(doc)), source, index) for index, doc in enumerate(documents)]
        loaded = load_documents(copies, references=False)
        owned = [obj for obj in loaded.objects if self._ours_or_free(obj.key, canary.key)]
        await self.store.replace_origin(origin_of(canary.key), owned)
        return list(loaded.diagnostics)

    async def remove(self, key: ResourceKey) -> None:
        self._idle_targets.pop(key, None)
        self._stable.pop(key, None)
        self._written.pop(key, None)
        self._revisions.pop(key, None)
        await self.store.remove_origin(origin_of(key))

    def _ours_or_free(self, key: ResourceKey, canary: ResourceKey) -> bool:
        found = self.store.get(key)
        return found is None or found.origin == origin_of(canary)

    # ---- what the Workload reconciler sees ----------------------------------------------------
    def masked(self, snapshot: InputSnapshot) -> InputSnapshot:
        """`snapshot` with every idle target Workload at 0 replicas."""
        idle = []
        for key in set(self._idle_targets.values()):
            workload = snapshot.get(key)
            if isinstance(workload, Workload) and workload.spec.replicas:
                idle.append(
                    workload.model_copy(update={"spec": workload.spec.model_copy(update={"replicas": 0})})
                )
        idle += [workload for workload in self._stable.values() if workload.key in snapshot]
        return snapshot.with_resources(idle) if idle else snapshot


class MaskedStore:
    """The store as the Workload reconciler sees it (`snapshot` + `subscribe`): idle targets at 0."""

    def __init__(self, store: ResourceStore, target: LocalTarget) -> None:
        self.store, self.target = store, target

    def snapshot(self) -> InputSnapshot:
        return self.target.masked(self.store.snapshot())

    def subscribe(self) -> Subscription:
        return self.store.subscribe()


def _target_key(canary: Canary) -> ResourceKey:
    return ResourceKey("Workload", canary.metadata.namespace, canary.spec.target_ref.name)


def derived_documents(
    canary: Canary, target: Workload, routing: Routing, current: Revision
) -> list[dict[str, Any]]:
    """The primary (or, by revision, the canary) Workload, the three Services, the TrafficSplit (and
    the A/B and session affinity routes and splits)."""
    label = selector_label(target.metadata.labels) or "app"
    value = target.metadata.labels.get(label, target.metadata.name)
    assert routing.primary_spec is not None
    if rev.uses_revisions(canary):
        docs = (
            [rev.canary_workload(canary, target, current.spec, current.checksum)]
            if routing.canary_runs
            else []
        )
        docs += _services(
            canary, *rev.selectors(label, value, checksum(routing.primary_spec), current.checksum)
        )
    else:
        docs = [_primary(canary, target, routing.primary_spec, label, value)]
        docs += _services(canary, {label: f"{value}-primary"}, {label: value})
    docs.append(_split(canary, routing))
    if canary.spec.analysis.match and routing.matched_to_canary:
        docs += _conditional(
            canary, "ab", [_headers(entry.headers) for entry in canary.spec.analysis.match or []]
        )
    if routing.session_cookie:
        docs += _conditional(canary, "affinity", [{"cookie": cookie_regex(routing.session_cookie)}])
    return docs


def _meta(canary: Canary, name: str, extra: Any = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": canary.metadata.namespace}
    if extra is not None and (extra.labels or extra.annotations):
        meta |= {"labels": dict(extra.labels), "annotations": dict(extra.annotations)}
    return meta


def _primary(
    canary: Canary, target: Workload, promoted: dict[str, Any], label: str, value: str
) -> dict[str, Any]:
    labels = {**promoted["metadata"].get("labels", {}), label: f"{value}-primary"}
    meta = {
        "name": f"{target.metadata.name}-primary",
        "namespace": canary.metadata.namespace,
        "labels": labels,
    }
    spec = {**promoted["spec"], "replicas": target.spec.replicas}
    return {"apiVersion": Workload.API_VERSION, "kind": "Workload", "metadata": meta, "spec": spec}


def _services(canary: Canary, stable: dict[str, str], candidate: dict[str, str]) -> list[dict[str, Any]]:
    service, name = canary.spec.service, canary.service_name
    port: dict[str, Any] = {"name": service.port_name or "http", "port": service.port}
    port["targetPort"] = service.target_port if service.target_port is not None else service.port
    if service.app_protocol:
        port["appProtocol"] = service.app_protocol
    roles = [(name, service.apex, stable), (f"{name}-primary", service.primary, stable)]
    roles.append((f"{name}-canary", service.canary, candidate))
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(canary, svc, extra),
            "spec": {"selector": dict(selected), "ports": [port]},
        }
        for svc, extra, selected in roles
    ]


def _split(canary: Canary, routing: Routing) -> dict[str, Any]:
    name = canary.service_name
    annotations = {PHASE_ANNOTATION: routing.phase or "idle"}
    if routing.mirror_percent:  # a copy of each request to the canary (mesh/build_splits.py)
        annotations[MIRROR_ANNOTATION] = f"{name}-canary:{routing.mirror_percent}"
    if routing.session_cookie:  # answers from the canary set the cookie (mesh/build_splits.py)
        annotations[SET_COOKIE_ANNOTATION] = f"{name}-canary={_set_cookie(canary, routing.session_cookie)}"
    meta = _meta(canary, name) | {"annotations": annotations}
    backends = [
        {"service": f"{name}-primary", "weight": 100 - routing.canary_weight},
        {"service": f"{name}-canary", "weight": routing.canary_weight},
    ]
    spec = {"service": name, "backends": backends}
    return {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": meta,
        "spec": spec,
    }


def _conditional(canary: Canary, suffix: str, matches: list[dict[str, str]]) -> list[dict[str, Any]]:
    """An HTTPRouteGroup and a TrafficSplit `<svc>-<suffix>` with `matches`: requests matching any
    entry (all its headers) go to the canary (A/B testing, session affinity)."""
    name = f"{canary.service_name}-{suffix}"
    group = {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": _meta(canary, name),
        "spec": {"matches": [{"name": f"match-{i}", "headers": h} for i, h in enumerate(matches)]},
    }
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": _meta(canary, name),
        "spec": {
            "service": canary.service_name,
            "matches": [{"kind": "HTTPRouteGroup", "name": name}],
            "backends": [{"service": f"{canary.service_name}-canary", "weight": 100}],
        },
    }
    return [group, split]


def _headers(headers: dict[str, Any]) -> dict[str, str]:
    return {header: header_regex(match) for header, match in headers.items()}


def cookie_regex(cookie: str) -> str:
    """The `cookie` request header carrying `name=value` among others (RE2 full match)."""
    return rf"(.*;\s*)?{re2.escape(cookie)}(;.*)?"


def _set_cookie(canary: Canary, cookie: str) -> str:
    affinity = canary.spec.analysis.session_affinity
    max_age = affinity.max_age if affinity and affinity.max_age else 86400
    path = affinity.path if affinity and affinity.path else "/"
    return f"{cookie}; Max-Age={max_age}; Path={path}"


def header_regex(match: Any) -> str:
    """Flagger's exact/prefix/suffix/regex as the RE2 full match an HTTPRouteGroup header holds."""
    if match.exact is not None:
        return str(re2.escape(match.exact))
    if match.prefix is not None:
        return str(re2.escape(match.prefix)) + ".*"
    if match.suffix is not None:
        return ".*" + str(re2.escape(match.suffix))
    return str(match.regex or ".*")
