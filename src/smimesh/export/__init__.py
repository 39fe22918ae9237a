"""Export SMI to what other meshes read: Gateway API (GAMMA), Istio, Linkerd and Consul (issue 16).

Pure: reads hub resources (`resources`) and the mesh model (`mesh`), returns plain dicts and a
report; `cli/export.py` reads files and prints. Public API:

- `export(snapshot, target, pods=()) -> Output` (`TARGETS` names the targets): `Output.objects`
  in apply order, `Output.entries()` = per input object what it became and its findings (SM8xxx,
  `export/codes.py`: WARNING = a loss, INFO = a note).
- `is_pod_document(data)`, `pod_group_of(data) -> PodGroup`: the Kubernetes pod manifests
  (Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod) that map accounts to pod labels.
- `schemas.SchemaSet.from_directory(dir)`: validate output against the published CRDs.

Each target's semantics and what cannot be translated are written down in docs/migration.md.
"""

from __future__ import annotations

from smimesh.export.engine import TARGETS, export
from smimesh.export.output import Entry, Output
from smimesh.export.world import PodGroup, is_pod_document, pod_group_of

__all__ = ["TARGETS", "Entry", "Output", "PodGroup", "export", "is_pod_document", "pod_group_of"]
