"""The identity layer's faults: bad SPIFFE ids, unusable CA material, unsafe key files.

Every error carries a message naming the file or value, and a hint with the fix, so the CLI can
print it as one clear line (never a traceback). Third-party (`cryptography`) errors are wrapped
into these at the boundary where PEM bytes are parsed.
"""

from __future__ import annotations

from smimesh.errors import SmimeshError


class IdentityError(SmimeshError):
    """Base of every identity fault."""


class InvalidSpiffeIdError(IdentityError, ValueError):
    """A string is not a SPIFFE id of the shape `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`.

    `value` is what was found and `expected` what would have been accepted, so a caller that
    turns this into a `Diagnostic` has every field it needs.
    """

    def __init__(self, message: str, *, value: str, expected: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.value = value
        self.expected = expected


class CaMaterialError(IdentityError):
    """A CA certificate or key (user-supplied or from the state directory) cannot be used."""


class InsecureKeyFileError(IdentityError):
    """A private key file is readable by group or others."""
