"""The canary seams (`runtime/canary/target.py`) on a Kubernetes API server: Deployments are targets.

Owns `KubeCanaryTarget(client, deployments)`: `TargetRevisions` + `SplitWriter` in Flagger's naming.
`deployments()` is the Deployments informer's cache. A revision is Flagger's checksum of the target
Deployment's pod template (replicas are no new revision). `write` makes the API server hold what the
analysis wants: the Deployment `<target>-primary` (the target's spec with the promoted pod template,
its selector label `app`/`name`/`app.kubernetes.io/name` given `<value>-primary`), the target scaled
to 0 while no analysis runs (to the primary's replicas while one does), the Services `<svc>`,
`<svc>-primary`, `<svc>-canary` and the TrafficSplit `<svc>` (the same documents local mode writes).
An object is written only when it differs from what this replica wrote last. `ready` is the
Deployment's `status.readyReplicas` against its replicas, as Flagger reads it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any

from smimesh.diagnostics import Diagnostic
from smimesh.resources import ResourceKey
from smimesh.resources.canary import Canary
from smimesh.runtime.canary import local_revision as rev
from smimesh.runtime.canary.local_target import SELECTOR_LABELS, _services, _split, selector_label
from smimesh.runtime.canary.target import Revision, Routing
from smimesh.sources.kubernetes.client import KubeApiError, KubeClient

log = logging.getLogger(__name__)
Obj = dict[str, Any]
PATHS = {
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Service": "/api/v1/namespaces/{ns}/services",
    "TrafficSplit": "/apis/split.smi-spec.io/v1alpha4/namespaces/{ns}/trafficsplits",
}


def template_checksum(template: Obj) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def collection(obj: Obj) -> str:
    return PATHS[obj["kind"]].format(ns=obj["metadata"]["namespace"])


class KubeCanaryTarget:
    """See the module docstring."""

    def __init__(self, client: KubeClient, deployments: Callable[[], list[Obj]]) -> None:
        self.client, self.deployments = client, deployments
        self._written: dict[ResourceKey, dict[tuple[str, str], Obj]] = {}  # canary -> (kind, name) -> obj

    def deployment(self, namespace: str, name: str) -> Obj | None:
        for found in self.deployments():
            meta = found.get("metadata", {})
            if meta.get("namespace") == namespace and meta.get("name") == name:
                return found
        return None

    def target(self, canary: Canary) -> Obj | None:
        return self.deployment(canary.metadata.namespace, canary.spec.target_ref.name)

    # ---- TargetRevisions ----------------------------------------------------------------------
    def revision(self, canary: Canary) -> Revision | None:
        target = self.target(canary)
        if target is None:
            return None
        template = target.get("spec", {}).get("template", {})
        return Revision(template_checksum(template), {"template": template})

    def primary_template(self, canary: Canary) -> Obj | None:
        """The pod template `-primary` runs, its selector label given back the target's value."""
        target = self.target(canary)
        primary = self.deployment(canary.metadata.namespace, f"{canary.spec.target_ref.name}-primary")
        if target is None or primary is None:
            return None
        template = copy.deepcopy(primary.get("spec", {}).get("template", {}))
        label = selector_label(_template_labels(target)) or "app"
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels[label] = _template_labels(target).get(label, target["metadata"]["name"])
        return dict(template)

    def problem(self, canary: Canary) -> str:
        ref, namespace = canary.spec.target_ref, canary.metadata.namespace
        if ref.kind != "Deployment":
            return f"targetRef kind {ref.kind} is not supported on Kubernetes (expected Deployment)"
        if rev.uses_revisions(canary):
            return "smimesh.io/naming: revision is not supported on Kubernetes yet (use the default primary)"
        analysis = canary.spec.analysis
        if analysis.match or analysis.session_affinity or analysis.mirror:
            return "analysis.match, sessionAffinity and mirror are local mode only (not on Kubernetes yet)"
        target = self.target(canary)
        if target is None:
            return f"Deployment {ref.name}.{namespace} not found"
        if selector_label(_template_labels(target)) is None:
            return (
                f"Deployment {ref.name}.{namespace}: its pod template has none of the labels "
                f"{', '.join(SELECTOR_LABELS)}: the -canary Service could not select it"
            )
        return ""

    def ready(self, canary: Canary, role: str) -> bool:
        name = canary.spec.target_ref.name + ("-primary" if role == "primary" else "")
        found = self.deployment(canary.metadata.namespace, name)
        if found is None:
            return False
        wanted = max(int(found.get("spec", {}).get("replicas", 1) or 0), 1)
        return int((found.get("status") or {}).get("readyReplicas", 0) or 0) >= wanted

    # ---- SplitWriter --------------------------------------------------------------------------
    async def write(self, canary: Canary, routing: Routing) -> list[Diagnostic]:
        target = self.target(canary)
        if target is None or routing.primary_spec is None:
            return []
        primary = self._primary(canary, target, routing.primary_spec)
        replicas = primary["spec"].get("replicas", 1)
        wanted = [primary, _scaled(target, replicas if routing.canary_runs else 0, replicas)]
        label = selector_label(_template_labels(target)) or "app"
        value = _template_labels(target).get(label, target["metadata"]["name"])
        wanted += _services(canary, {label: f"{value}-primary"}, {label: value})
        wanted.append(_split(canary, routing))
        written = self._written.setdefault(canary.key, {})
        for obj in wanted:
            key = (obj["kind"], obj["metadata"]["name"])
            if written.get(key) != obj:
                await self._apply(obj)
                written[key] = obj
        return []

    def _primary(self, canary: Canary, target: Obj, promoted: Obj) -> Obj:
        """The target Deployment with the promoted pod template, selecting `<value>-primary`."""
        known = self.deployment(canary.metadata.namespace, f"{target['metadata']['name']}-primary")
        spec = copy.deepcopy(target["spec"])
        spec["template"] = copy.deepcopy(promoted["template"])
        label = selector_label(_template_labels(target)) or "app"
        value = _template_labels(target).get(label, target["metadata"]["name"])
        spec["template"].setdefault("metadata", {}).setdefault("labels", {})[label] = f"{value}-primary"
        spec["selector"] = {"matchLabels": {label: f"{value}-primary"}}
        if known is not None:  # scaled by someone else (an autoscaler): keep it
            spec["replicas"] = known.get("spec", {}).get("replicas", spec.get("replicas", 1))
        elif not spec.get("replicas"):
            spec["replicas"] = 1
        meta = target["metadata"]
        labels = {**meta.get("labels", {}), label: f"{value}-primary"}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{meta['name']}-primary", "namespace": meta["namespace"], "labels": labels},
            "spec": spec,
        }

    async def _apply(self, obj: Obj) -> None:
        """Create, or replace what is there (its resourceVersion kept); a scale is a merge patch."""
        path = f"{collection(obj)}/{obj['metadata']['name']}"
        if obj.get("scale_only"):
            await self.client.patch(path, {"spec": {"replicas": obj["spec"]["replicas"]}})
            return
        try:
            current = await self.client.get(path)
        except KubeApiError as error:
            if error.code != 404:
                raise
            await self.client.create(collection(obj), obj)
            return
        body = {
            **obj,
            "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
        }
        if obj["kind"] == "Service" and current.get("spec", {}).get("clusterIP"):
            body["spec"] = {**obj["spec"], "clusterIP": current["spec"]["clusterIP"]}
        await self.client.replace(path, body)

    async def remove(self, key: ResourceKey) -> None:
        """The Canary is gone: delete what it created, run the target again as written."""
        for (kind, name), obj in self._written.pop(key, {}).items():
            path = f"{collection(obj)}/{name}"
            try:
                if obj.get("scale_only"):
                    await self.client.patch(path, {"spec": {"replicas": obj.get("restore", 1)}})
                else:
                    await self.client.delete(path)
            except KubeApiError as error:
                log.warning("canary %s: could not remove %s %s: %s", key, kind, name, error)


def _template_labels(deployment: Obj) -> dict[str, str]:
    return dict(deployment.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))


def _scaled(target: Obj, replicas: int, restore: int) -> Obj:
    """The target's scale (a patch, not a replace: the user owns the rest of the Deployment)."""
    meta = target["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {"replicas": replicas},
        "scale_only": True,
        "restore": restore,  # the replicas it gets back when the Canary is deleted
    }
