"""Local mode's second naming scheme, `smimesh.io/naming: revision`: the user's Workload stays the
stable one, under its own name; no `-primary` copy (Flagger's most common complaint, ANCHORS B5.2).

The Workload reconciler sees the target Workload running the promoted spec, with the label
`smimesh.io/revision: <checksum>` added (`stable_workload`). During an analysis the controller adds a
Workload `<target>-canary` running the saved (new) spec with its own revision label. The Services
select by revision: the apex and `<svc>-primary` the promoted one, `<svc>-canary` the new one.
Promotion changes the stable revision: the target's instances restart with the new spec while the
canary serves all traffic, exactly as in the `-primary` scheme.
"""

from __future__ import annotations

from typing import Any

from smimesh.resources.canary import NAMING_ANNOTATION, Canary
from smimesh.resources.workload import Workload

REVISION_LABEL = "smimesh.io/revision"


def uses_revisions(canary: Canary) -> bool:
    return canary.metadata.annotations.get(NAMING_ANNOTATION) == "revision"


def stable_workload(target: Workload, promoted: dict[str, Any], revision: str) -> Workload:
    """The target as the reconciler must run it: the promoted spec, labelled with its revision."""
    labels = {**promoted["metadata"].get("labels", {}), REVISION_LABEL: revision}
    spec = {**promoted["spec"], "replicas": target.spec.replicas}
    meta = target.metadata.model_copy(update={"labels": labels})
    return target.model_copy(update={"metadata": meta, "spec": type(target.spec).model_validate(spec)})


def canary_workload(
    canary: Canary, target: Workload, current: dict[str, Any], revision: str
) -> dict[str, Any]:
    labels = {**current["metadata"].get("labels", {}), REVISION_LABEL: revision}
    meta = {
        "name": f"{target.metadata.name}-canary",
        "namespace": canary.metadata.namespace,
        "labels": labels,
    }
    spec = {**current["spec"], "replicas": target.spec.replicas}
    return {"apiVersion": Workload.API_VERSION, "kind": "Workload", "metadata": meta, "spec": spec}


def selectors(label: str, value: str, stable: str, candidate: str) -> tuple[dict[str, str], dict[str, str]]:
    """(stable selector, canary selector) of the Services."""
    return {label: value, REVISION_LABEL: stable}, {label: value, REVISION_LABEL: candidate}
