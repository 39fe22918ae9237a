"""`Checker`: one decoded object as written, with helpers to read its raw data and report at a field path.

Owns how semantic checks address the user's document (paths, lines, object reference, severity from
the code registry) and the RE2 compile check shared by every regex field.
"""

from __future__ import annotations

from typing import Any

import re2

from smimesh.diagnostics import Diagnostic, Severity, lookup, shorten
from smimesh.resources import codes, dns
from smimesh.resources.document import Document, format_path
from smimesh.resources.meta import Resource

Path = tuple[str | int, ...]

_LABEL_HINT = "letters, digits, '-', '_' and '.', starting and ending alphanumeric; keys may have a 'prefix/'"
# What a user needs when a check does not say more itself: (expected, hint) per code.
DEFAULTS: dict[str, tuple[str, str]] = {
    codes.BAD_LABEL: ("a valid label key and value", _LABEL_HINT),
    codes.BAD_SELECTOR: ("valid label keys and values", _LABEL_HINT),
    codes.DUPLICATE_MATCH: (
        "match names unique within the group",
        "rename one: rules select matches by name",
    ),
    codes.REDUNDANT_METHODS: ("'*' alone, or each method once", "'*' alone means every method"),
    codes.DUPLICATE_PORT: ("each port once", "remove the repeated port"),
    codes.SERVICE_PORTS: (
        "distinct port names and numbers, names when there are several",
        "give each port its own name and number, e.g. http: 80, grpc: 9090",
    ),
    codes.BAD_PORT_NAME: (
        "an IANA service name",
        "e.g. http, grpc or tcp-db (≤ 15 lower-case letters, digits, '-')",
    ),
    codes.WORKLOAD_PORTS: (
        "distinct port names and containerPorts",
        "give each port its own name and number",
    ),
    codes.DUPLICATE_BACKEND: ("each backend once", "add the weights into one entry"),
    codes.SELF_BACKEND: (
        "backends other than the root",
        "it means the root Service's own endpoints (not recursive)",
    ),
    codes.DUPLICATE_SUBJECT: ("each entry once", "remove the repeated entry"),
    codes.MATCHES_IGNORED: ("no `matches` on TCPRoute or UDPRoute rules", "remove `matches` from this rule"),
    codes.BAD_ENV_NAME: (
        "a variable name such as MY_SETTING",
        "use letters, digits and '_', not starting with a digit",
    ),
    codes.DUPLICATE_HEADER: (
        "each header name once (names ignore case)",
        "merge both conditions into one regex",
    ),
}
# name rule -> (check, what `expected` says, options for the suggested spelling)
NAME_RULES: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "dns1123-label": (dns.dns1123_label, f"a DNS-1123 label: {dns.LABEL_RULE}", {}),
    "dns1123-subdomain": (
        dns.dns1123_subdomain,
        f"a DNS-1123 subdomain: {dns.SUBDOMAIN_RULE}",
        {"dots": True, "limit": 253},
    ),
    "dns1035-label": (dns.dns1035_label, f"a DNS-1035 label: {dns.LABEL_1035_RULE}", {"letter_first": True}),
}

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
        default_expected, default_hint = DEFAULTS.get(code, ("", ""))
        expected, hint = expected or default_expected, hint or default_hint
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

    def name(self, code: str, what: str, value: Any, path: Path, rule: str) -> list[Diagnostic]:
        """A diagnostic when `value` breaks the name `rule`, with a valid spelling as the hint."""
        check, expected, options = NAME_RULES[rule]
        problem = check(value) if isinstance(value, str) and value else ""
        if not problem:
            return []
        example = dns.suggest(value, **options)
        return [
            self.report(
                code, f"{what} {value!r} is {problem}", path, value, expected, f"for example {example!r}"
            )
        ]
