"""Shared constants for the identity tests (a module name no other test directory uses)."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
TRUST_DOMAIN = "cluster.local"
