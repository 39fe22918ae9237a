"""Shared constants for the identity tests (tests/identity): a fixed clock and the trust domain."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
TRUST_DOMAIN = "cluster.local"
