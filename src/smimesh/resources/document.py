"""`Document`: one object as the user wrote it, where it came from, and the line of every field path.

Owns the value every diagnostic is located with (`location(path)`, `line_of(path)`), the field path
notation (`spec.rules[0].matches[1]`, `metadata.labels["app.kubernetes.io/name"]`) and `ReadResult`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smimesh.diagnostics import Diagnostic, Location, ObjectRef

Path = tuple[str | int, ...]

_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(parts: Iterable[str | int]) -> str:
    """`("spec", "rules", 0, "name")` → `spec.rules[0].name`; odd keys are quoted: `labels["a.b/c"]`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _SIMPLE_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += '["' + part.replace('"', '\\"') + '"]'
    return out


@dataclass(frozen=True, slots=True)
class Document:
    """One object as written: its data, where it came from, and the line of each field path."""

    data: Any
    source: str
    index: int
    lines: Mapping[Path, int] = field(default_factory=dict, repr=False)
    prefix: Path = ()  # ("items", 3) for the 4th item of a List
    line: int | None = None

    def line_of(self, path: Sequence[str | int] = ()) -> int | None:
        """Line of `path` (relative to the object), or of its nearest ancestor that has one."""
        full = (*self.prefix, *path)
        for end in range(len(full), -1, -1):
            line = self.lines.get(full[:end])
            if line is not None:
                return line
        return self.line

    def location(self, path: Sequence[str | int] = ()) -> Location:
        return Location(self.source, self.line_of(path), self.index)

    def ref(self) -> ObjectRef:
        data = self.data if isinstance(self.data, dict) else {}
        meta = data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        return ObjectRef(_text(data.get("kind")), _text(meta.get("namespace")), _text(meta.get("name")))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(slots=True)
class ReadResult:
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
