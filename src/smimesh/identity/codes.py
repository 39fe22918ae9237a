"""Diagnostic codes of the identity layer, and the bridge from its errors to diagnostics.

A Workload's `serviceAccount` (or a TrafficTarget subject) becomes part of a SPIFFE id; a name the
SPIFFE spec does not allow cannot get a certificate. Whoever meets such a name in user input
(the mesh model) reports it with `invalid_spiffe_id(...)`, pointing at the user's file and field.
"""

from __future__ import annotations

from smimesh.diagnostics import Diagnostic, Location, ObjectRef, Severity, register
from smimesh.identity.errors import InvalidSpiffeIdError

INVALID_SPIFFE_ID = register(
    "SM3090",
    "name cannot form a SPIFFE identity",
    Severity.ERROR,
    """Every service account gets the identity spiffe://<trust-domain>/ns/<namespace>/sa/<name>,
    carried in its mTLS certificate. The SPIFFE specification allows only letters, digits, '.', '-'
    and '_' in a path segment (and not '.' or '..' alone), and lowercase letters, digits, '.', '-'
    and '_' in the trust domain. A workload whose namespace or service account breaks these rules
    cannot get a certificate, so it is left out of the mesh. Kubernetes-style names
    (lowercase, digits, '-') always qualify.""",
)


def invalid_spiffe_id(
    error: InvalidSpiffeIdError,
    *,
    location: Location | None = None,
    obj: ObjectRef | None = None,
    path: str = "",
) -> Diagnostic:
    """The SM3090 diagnostic for `error`, at the user's file, object and field."""
    return Diagnostic(
        code=INVALID_SPIFFE_ID.code,
        message=error.message,
        location=location or Location(),
        object=obj or ObjectRef(),
        path=path,
        value=error.value,
        expected=error.expected,
        hint=error.hint or "use a Kubernetes-style name: lowercase letters, digits and '-'",
    )
