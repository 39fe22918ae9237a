"""Observe tests (tap, per-route metrics, policy suggest, dashboard): `observe_world` next to this file
is made importable under pytest's importlib import mode."""

from __future__ import annotations

import sys
from pathlib import Path

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
