"""SPIFFE ids of mesh workloads: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.

Owns parsing, formatting and validation against the SPIFFE ID specification (SPIFFE-ID.md §2):
the trust domain is lowercase letters, digits, `.`, `-` and `_` (no port, no user info, at most
255 characters); path segments are letters, digits, `.`, `-` and `_`, never empty, `.` or `..`;
no query or fragment; the whole URI is at most 2048 bytes. smimesh ids always have exactly the
path `/ns/<namespace>/sa/<service-account>` (one id per Kubernetes service account).

Also `require_utc`, the one check every time-taking function of the layer applies to `now`
(kept here, at the bottom of the layer's imports, so every module can use it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from smimesh.identity.errors import InvalidSpiffeIdError

SCHEME: Final = "spiffe://"
MAX_URI_BYTES: Final = 2048
MAX_TRUST_DOMAIN_CHARS: Final = 255
_TRUST_DOMAIN_RE: Final = re.compile(r"[a-z0-9._-]+")
_SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9._-]+")
_SHAPE: Final = "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>"


def validate_trust_domain(trust_domain: str) -> str:
    """Return `trust_domain` unchanged if the SPIFFE spec allows it, else raise InvalidSpiffeIdError."""
    if not trust_domain or len(trust_domain) > MAX_TRUST_DOMAIN_CHARS:
        raise _invalid(
            f"trust domain must be 1 to {MAX_TRUST_DOMAIN_CHARS} characters",
            trust_domain,
            "a name like cluster.local",
        )
    if not _TRUST_DOMAIN_RE.fullmatch(trust_domain):
        raise _invalid(
            "trust domain may hold only lowercase letters, digits, '.', '-' and '_'",
            trust_domain,
            "a name like cluster.local (no scheme, port or upper case)",
        )
    return trust_domain


def validate_segment(segment: str, what: str) -> str:
    """Return `segment` if it is a valid SPIFFE path segment, else raise InvalidSpiffeIdError."""
    if segment in ("", ".", ".."):
        raise _invalid(f"{what} must not be empty, '.' or '..'", segment, "a Kubernetes-style name")
    if not _SEGMENT_RE.fullmatch(segment):
        raise _invalid(
            f"{what} may hold only letters, digits, '.', '-' and '_'",
            segment,
            "a Kubernetes-style name such as bookstore-v1",
        )
    return segment


@dataclass(frozen=True, slots=True, order=True)
class SpiffeId:
    """The identity of every workload running under one service account, in one trust domain."""

    trust_domain: str
    namespace: str
    service_account: str

    def __post_init__(self) -> None:
        validate_trust_domain(self.trust_domain)
        validate_segment(self.namespace, "namespace")
        validate_segment(self.service_account, "service account")
        if len(self.uri.encode()) > MAX_URI_BYTES:
            raise _invalid(f"SPIFFE id longer than {MAX_URI_BYTES} bytes", self.uri[:80] + "…", _SHAPE)

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    @property
    def trust_domain_uri(self) -> str:
        """`spiffe://<trust-domain>`: the id of the trust domain itself (used by roots)."""
        return f"{SCHEME}{self.trust_domain}"

    def __str__(self) -> str:
        return self.uri

    @classmethod
    def parse(cls, text: str) -> SpiffeId:
        """Parse `spiffe://td/ns/N/sa/S`; raise InvalidSpiffeIdError saying exactly what is wrong."""
        if not text.startswith(SCHEME):
            raise _invalid("SPIFFE id must start with 'spiffe://' (lowercase)", text, _SHAPE)
        if any(mark in text for mark in "?#"):
            raise _invalid("SPIFFE id must not have a query or fragment", text, _SHAPE)
        trust_domain, _, path = text[len(SCHEME) :].partition("/")
        if any(mark in trust_domain for mark in "@:"):
            raise _invalid("trust domain must not hold a port or user info", text, _SHAPE)
        validate_trust_domain(trust_domain)
        parts = path.split("/")
        if len(parts) != 4 or parts[0] != "ns" or parts[2] != "sa":
            raise _invalid(
                "SPIFFE id path must be /ns/<namespace>/sa/<service-account>",
                text,
                _SHAPE,
                hint="smimesh issues one identity per service account",
            )
        return cls(trust_domain, parts[1], parts[3])


def require_utc(now: datetime) -> datetime:
    """`now` unchanged if it carries a time zone; naive datetimes are refused (they compare wrongly)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"identity times must be time-zone aware (datetime.now(UTC)), got naive {now}")
    return now


def _invalid(message: str, value: str, expected: str, *, hint: str = "") -> InvalidSpiffeIdError:
    return InvalidSpiffeIdError(message, value=value, expected=expected, hint=hint)
