"""Moved to `bench.machine` (every benchmark's envelope uses it); kept so older imports still work."""

from bench.machine import cpu_model, describe, envoy_version

__all__ = ["cpu_model", "describe", "envoy_version"]
