"""The injection as an RFC 6902 JSON patch: what the mutating webhook answers.

`injection_patch(pod, config)` computes the injected pod with `inject.inject_template` (the very function
`smimesh inject` runs) and returns the operations that turn the original into it: one `add` per changed
top-level field of `metadata` and `spec` (`add` replaces a member that exists, RFC 6902 §4.1), so
applying the patch to the original gives exactly `smimesh inject`'s output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smimesh.pods.inject import InjectConfig, Outcome, inject_template

PATCHED = (
    ("metadata", "annotations"),
    ("spec", "initContainers"),
    ("spec", "containers"),
    ("spec", "volumes"),
)


@dataclass(frozen=True, slots=True)
class PodPatch:
    operations: list[dict[str, Any]]
    outcome: Outcome


def injection_patch(pod: dict[str, Any], config: InjectConfig | None = None) -> PodPatch:
    metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    outcome = inject_template(metadata, spec, config)
    if not outcome.injected:
        return PodPatch([], outcome)
    after = {"metadata": outcome.metadata, "spec": outcome.spec}
    before = {"metadata": metadata, "spec": spec}
    operations = [
        {"op": "add", "path": f"/{section}/{name}", "value": after[section][name]}
        for section, name in PATCHED
        if after[section].get(name) != before[section].get(name)
    ]
    if "metadata" not in pod:  # `add` needs the parent to exist
        operations.insert(0, {"op": "add", "path": "/metadata", "value": {}})
    return PodPatch(operations, outcome)
