"""When a refused (NACKed) config is sent again: Envoy's refusals that may pass, and the backoff.

Owns `may_be_transient(message)` and `RetryBackoff`. Envoy refuses an update for two kinds of
reasons. Some depend only on the config (a constraint or a limit: "Proto constraint validation
failed", "exceeds", a regex too large): sending it again yields the same refusal, so it is reported
and left until the config changes. Others depend on the moment ("cannot bind ... Address already in
use" while the port is still held, a file or a resource not there yet): the same config may be
accepted a little later, so the stream resends it with backoff. A message that is not recognised as
deterministic counts as possibly transient: a resend every 30 s at most costs little, and waiting
for the next change could leave a sidecar behind for good.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0

# Envoy's wording for refusals that depend on the config alone (lower case).
_DETERMINISTIC = (
    "proto constraint validation failed",
    "exceeds",
    "program size",
    "invalid regex",
    "unable to parse",
    "didn't find a registered implementation",
    "duplicate",
    "malformed",
    "must be",
    "not supported",
    "unknown field",
    "invalid value",
)


def may_be_transient(message: str) -> bool:
    """True unless Envoy's refusal names a fault of the config itself."""
    text = message.lower()
    return not any(marker in text for marker in _DETERMINISTIC)


@dataclass(slots=True)
class RetryBackoff:
    """Delays of the resends of one refused version: 1 s, doubling, at most 30 s."""

    first_s: float = FIRST_RETRY_S
    max_s: float = MAX_RETRY_S
    attempts: int = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.first_s * 2.0**self.attempts)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0
