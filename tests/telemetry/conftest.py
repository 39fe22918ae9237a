"""Telemetry tests: the helper modules next to this file (`telemetry_world`, `telemetry_traffic`,
names no other test directory uses) are made importable under pytest's importlib import mode."""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
