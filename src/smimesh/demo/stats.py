"""What the demo's clients saw, over a sliding window: requests/s, success rate, share per version.

The shoppers (buyer, thief) keep running totals in `.stats/<instance>.json`; `ClientWindow` keeps the
last few seconds of those totals and turns differences into rates, so the live view shows what is
happening now (a split edit shows up within a couple of refreshes), not since the start.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WINDOW_S = 3.0


@dataclass(frozen=True, slots=True)
class ClientView:
    name: str
    requests_per_s: float
    success_rate: float | None  # None: no request in the window
    version_share: dict[str, float]  # of the successful answers in the window
    total: int
    last_error: str

    def share_text(self) -> str:
        return "  ".join(f"{v} {100 * share:.1f}%" for v, share in sorted(self.version_share.items())) or "-"


@dataclass
class ClientWindow:
    name: str
    window_s: float = WINDOW_S
    samples: deque[tuple[float, dict[str, Any]]] = field(default_factory=deque)

    def add(self, at: float, totals: dict[str, Any]) -> None:
        self.samples.append((at, totals))
        while len(self.samples) > 2 and at - self.samples[1][0] >= self.window_s:
            self.samples.popleft()

    def view(self) -> ClientView:
        if not self.samples:
            return ClientView(self.name, 0.0, None, {}, 0, "")
        (t0, first), (t1, last) = self.samples[0], self.samples[-1]
        span = max(t1 - t0, 1e-9)
        requests = last.get("requests", 0) - first.get("requests", 0)
        ok = last.get("ok", 0) - first.get("ok", 0)
        by_version = _difference(last.get("by_version", {}), first.get("by_version", {}))
        answered = sum(by_version.values())
        return ClientView(
            name=self.name,
            requests_per_s=requests / span if len(self.samples) > 1 else 0.0,
            success_rate=ok / requests if requests else None,
            version_share={v: n / answered for v, n in by_version.items() if n} if answered else {},
            total=int(last.get("requests", 0)),
            last_error=str(last.get("last_error", "")),
        )


def _difference(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: now.get(key, 0) - before.get(key, 0) for key in now}


def read_totals(path: Path) -> dict[str, Any] | None:
    """The shopper's running totals, or None while it has not written any (or mid-replace)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class DemoStats:
    """Sliding windows for every client whose stats file exists under `stats_dir`."""

    def __init__(self, stats_dir: Path, clients: tuple[str, ...], window_s: float = WINDOW_S) -> None:
        self.stats_dir = stats_dir
        self.windows = {name: ClientWindow(name, window_s) for name in clients}

    def refresh(self, now: float | None = None) -> list[ClientView]:
        at = time.monotonic() if now is None else now
        for name, window in self.windows.items():
            totals = read_totals(self.stats_dir / f"{name}.json")
            if totals is not None:
                window.add(at, totals)
        return [window.view() for window in self.windows.values()]
