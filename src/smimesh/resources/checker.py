"""`Checker`: one decoded object as written, with helpers to read its raw data and report at a field path.

Owns how semantic checks address the user's document (paths, lines, object reference, severity from
the code registry) and the RE2 compile check shared by every regex field.
"""

from __future__ import annotations

from typing import Any

import re2

from smimesh.diagnostics import Diagnostic, Severity, lookup, shorten
from smimesh.resources.document import Document, format_path
from smimesh.resources.meta import Resource

Path = tuple[str | int, ...]

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error becomes a diagnostic; keep RE2 from also logging to stderr


def re2_error(pattern: str) -> str:
    """ "" when RE2 (Envoy's regex engine) compiles `pattern`, else its error message."""
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else str(exc)
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    except (TypeError, ValueError) as exc:  # e.g. a NUL inside the pattern
        return str(exc)
    return ""


class Checker:
    """The object being checked, with helpers to read its raw data and to report at a path."""

    def __init__(self, document: Document, resource: Resource) -> None:
        self.document, self.resource = document, resource
        self.data: dict[str, Any] = document.data if isinstance(document.data, dict) else {}
        self.base: Path = ("spec",) if isinstance(self.data.get("spec"), dict) else ()

    def get(self, path: Path) -> Any:
        current: Any = self.data
        for part in path:
            if isinstance(current, dict) and isinstance(part, str):
                current = current.get(part)
            elif isinstance(current, list) and isinstance(part, int) and part < len(current):
                current = current[part]
            else:
                return None
        return current

    def items(self, path: Path) -> list[tuple[Path, Any]]:
        value = self.get(path)
        return [((*path, i), item) for i, item in enumerate(value)] if isinstance(value, list) else []

    def report(
        self, code: str, message: str, path: Path, value: Any = None, expected: str = "", hint: str = ""
    ) -> Diagnostic:
        info = lookup(code)
        severity = info.severity if info else Severity.ERROR
        return Diagnostic(
            code,
            message,
            severity,
            self.document.location(path),
            self.document.ref(),
            format_path(path),
            None if value is None else shorten(value),
            expected,
            hint,
        )
