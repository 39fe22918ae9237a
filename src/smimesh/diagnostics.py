"""Coded diagnostics: the one way any layer reports a problem in the user's input.

Owns the `Diagnostic` value, the severity scale and the registry of codes. Every code has a
title and a one-paragraph explanation that `smimesh explain-code CODE` prints (OSM's errcode,
Istio's analyzer messages). Layers register their own codes in a `codes.py` module of their
own, at import time, through `register()`; nothing here knows any particular code.

Code ranges (so a code says where it came from):
    SM1xxx  reading input: files, YAML/JSON syntax, size limits, documents, duplicates
    SM2xxx  schema: unknown kind/version, required fields, types, enums, unknown fields
    SM3xxx  one object's semantics: regexes, selectors, names, weights, ports
    SM4xxx  across objects: references, selectors that select nothing, identities
    SM5xxx  version conversion
    SM6xxx  mesh model and Envoy config generation
    SM7xxx  runtime: processes, the control plane, proxies (NACKs)
    SM8xxx  export to other meshes: losses (warnings), notes, output checks (`export/codes.py`)
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    title: str
    severity: Severity
    explanation: str


_REGISTRY: dict[str, CodeInfo] = {}


def register(code: str, title: str, severity: Severity, explanation: str) -> CodeInfo:
    """Register a diagnostic code once; registering the same code differently is a programming error."""
    info = CodeInfo(code, title, severity, " ".join(explanation.split()))
    existing = _REGISTRY.get(code)
    if existing is not None and existing != info:
        raise ValueError(f"diagnostic code {code} registered twice with different texts")
    _REGISTRY[code] = info
    return info


def lookup(code: str) -> CodeInfo | None:
    return _REGISTRY.get(code.strip().upper())


def all_codes() -> list[CodeInfo]:
    return sorted(_REGISTRY.values(), key=lambda info: info.code)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Which object a diagnostic is about (kind, namespace, name), as far as known."""

    kind: str = ""
    namespace: str = ""
    name: str = ""

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}" if self.kind else f"{ns}{self.name}"


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the user's input: file (or "<stdin>", "<api>"), 1-based line, 0-based document index."""

    file: str = ""
    line: int | None = None
    document: int | None = None

    def __str__(self) -> str:
        out = self.file or "<input>"
        if self.line is not None:
            out += f":{self.line}"
        if self.document is not None:
            out += f" (document {self.document + 1})"
        return out


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem (or note) found in the input, with everything a user needs to fix it.

    `path` is a field path such as ``spec.rules[0].matches[1]``; `value` is what was found (already
    shortened for display), `expected` what would have been accepted, `hint` how to fix it.
    """

    code: str
    message: str
    severity: Severity = Severity.ERROR
    location: Location = field(default_factory=Location)
    object: ObjectRef = field(default_factory=ObjectRef)
    path: str = ""
    value: str | None = None
    expected: str = ""
    hint: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def at(self, location: Location) -> Diagnostic:
        return replace(self, location=location)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    def format(self) -> str:
        """One block of plain text: `file:line: severity CODE: message` and indented details."""
        head = f"{self.location}: {self.severity.value} {self.code}: {self.message}"
        lines = [head]
        if self.object.kind or self.object.name:
            lines.append(f"    object:   {self.object}")
        if self.path:
            lines.append(f"    field:    {self.path}")
        if self.value is not None:
            lines.append(f"    found:    {self.value}")
        if self.expected:
            lines.append(f"    expected: {self.expected}")
        if self.hint:
            lines.append(f"    hint:     {self.hint}")
        return "\n".join(lines)


def shorten(value: object, limit: int = 80) -> str:
    """Render a found value for a diagnostic: JSON-ish, one line, never longer than `limit`."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def sort_key(d: Diagnostic) -> tuple[str, int, int, str, str]:
    loc = d.location
    return (loc.file, loc.document or 0, loc.line or 0, d.path, d.code)


def to_json(diagnostics: Iterable[Diagnostic], extra: Mapping[str, Any] | None = None) -> str:
    payload: dict[str, Any] = {"diagnostics": [d.to_dict() for d in diagnostics]}
    if extra:
        payload.update(extra)
    return json.dumps(payload, indent=2, sort_keys=False)
