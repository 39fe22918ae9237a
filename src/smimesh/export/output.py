"""What an export produces: the target's objects in order, and per source object what it became.

`Output` is filled by one target's exporter: `add(source, obj)` records an object (an identical
object produced twice, like a per-namespace default deny, is kept once) and `report(source, d)` a
finding. `entries()` gives the report rows: every source object, the objects it became (names as
`Kind/namespace/name`) and its findings, in source order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smimesh.diagnostics import Diagnostic, Location, ObjectRef

EXPORTED_FROM = "smimesh.io/exported-from"


@dataclass
class Entry:
    source: ObjectRef
    location: Location = field(default_factory=Location)
    produced: list[str] = field(default_factory=list)
    findings: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source),
            "location": str(self.location) if self.location.file else "",
            "produced": list(self.produced),
            "findings": [_finding_dict(d) for d in self.findings],
        }


def _finding_dict(diag: Diagnostic) -> dict[str, Any]:
    kind = {"warning": "loss", "info": "note"}.get(diag.severity.value, diag.severity.value)
    data = {"code": diag.code, "kind": kind, "message": diag.message}
    data |= {k: v for k, v in (("path", diag.path), ("value", diag.value), ("hint", diag.hint)) if v}
    return data


@dataclass
class Output:
    target: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    _entries: dict[ObjectRef, Entry] = field(default_factory=dict)
    _keys: dict[str, dict[str, Any]] = field(default_factory=dict)

    def entry(self, source: ObjectRef, location: Location | None = None) -> Entry:
        found = self._entries.get(source)
        if found is None:
            found = self._entries[source] = Entry(source, location or Location())
        elif location is not None and not found.location.file:
            found.location = location
        return found

    def add(self, source: ObjectRef, obj: dict[str, Any]) -> None:
        key = object_key(obj)
        if key not in self._keys:
            self._keys[key] = obj
            self.objects.append(obj)
        produced = self.entry(source).produced
        if key not in produced:
            produced.append(key)

    def report(self, source: ObjectRef, diag: Diagnostic) -> None:
        findings = self.entry(source).findings
        if diag not in findings:
            findings.append(diag)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    @property
    def findings(self) -> list[Diagnostic]:
        return [d for e in self._entries.values() for d in e.findings]


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def metadata(name: str, namespace: str, source: ObjectRef | str) -> dict[str, Any]:
    """Metadata of an exported object, annotated with the SMI object it came from."""
    return {"name": name, "namespace": namespace, "annotations": {EXPORTED_FROM: str(source)}}


def percentages(weights: list[int], units: int) -> tuple[list[int], bool]:
    """`weights` as shares of `units` (100 = whole percent, 10000 = hundredths) summing to `units`.

    Largest remainder (ties to the earlier backend); the flag says whether the shares are exact.
    All-zero weights stay zero (the caller reports that split on its own).
    """
    total = sum(weights)
    if total <= 0:
        return [0 for _ in weights], True
    floors = [w * units // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(weights[i] * units % total), i))
    for index in order[: units - sum(floors)]:
        floors[index] += 1
    return floors, all(w * units % total == 0 for w in weights)
