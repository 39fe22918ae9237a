"""Kubernetes name syntax: DNS-1123 labels and subdomains, DNS-1035 labels, label keys/values, port names.

Owns the exact rules (as Kubernetes' apimachinery validation states them) so every check in
`validate` uses the same ones. Each function returns "" when the value is valid, else what is wrong.
"""

from __future__ import annotations

import re

_LABEL_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_IANA_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

LABEL_RULE = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63"
SUBDOMAIN_RULE = "lower-case letters, digits, '-' and '.', each part starting and ending alphanumeric, ≤ 253"
LABEL_1035_RULE = "lower-case letters, digits and '-', starting with a letter, ending alphanumeric, ≤ 63"


def dns1123_label(value: str) -> str:
    if len(value) > 63:
        return f"longer than 63 characters ({len(value)})"
    return "" if _LABEL_1123.fullmatch(value) else "not a valid DNS-1123 label"


def dns1123_subdomain(value: str) -> str:
    if len(value) > 253:
        return f"longer than 253 characters ({len(value)})"
    return "" if _SUBDOMAIN_1123.fullmatch(value) else "not a valid DNS-1123 subdomain"


def dns1035_label(value: str) -> str:
    if len(value) > 63:
        return f"longer than 63 characters ({len(value)})"
    return "" if _LABEL_1035.fullmatch(value) else "not a valid DNS-1035 label"


def label_key(key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or dns1123_subdomain(prefix)):
        return f"prefix {prefix!r} is not a DNS subdomain"
    if len(name) > 63 or not _QUALIFIED_NAME.fullmatch(name):
        return "name part must be ≤ 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
    return ""


def label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
        return "must be empty or ≤ 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
    return ""


def iana_service_name(value: str) -> str:
    ok = (
        len(value) <= 15
        and _IANA_SVC_NAME.fullmatch(value)
        and "--" not in value
        and any(c.isalpha() for c in value)
    )
    return "" if ok else "≤ 15 lower-case letters, digits and '-', with a letter, no '--', not at the ends"


def env_name(value: str) -> str:
    return (
        "" if _ENV_NAME.fullmatch(value) else "letters, digits, '_', '-' and '.', not starting with a digit"
    )


def http_header_name(value: str) -> str:
    return "" if _HTTP_TOKEN.fullmatch(value) else "an HTTP token (letters, digits, !#$%&'*+-.^_`|~)"


def suggest(value: str, *, dots: bool = False, letter_first: bool = False, limit: int = 63) -> str:
    """A valid name close to `value` (for hints): lower-case, other characters as '-', trimmed."""
    text = re.sub(r"[^a-z0-9.-]" if dots else r"[^a-z0-9-]", "-", value.lower())
    text = text.strip("-.")[:limit].strip("-.")
    if letter_first and not text[:1].isalpha():
        text = ("x-" + text)[:limit].strip("-")
    return text or "name"
