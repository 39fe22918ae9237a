"""The known traffic pattern of the correctness tests, and the client's own latency measurements.

600 requests, one at a time, shuffled: 60 are answered 500 by the backend (60 failures); of the
rest, 90 are delayed 50 ms and 30 delayed 200 ms. Sorted by latency: ~480 fast ones, then the
50 ms group (ranks 480-569, so p90 = rank 540 lands mid-group), then the 200 ms group (ranks
570-599, p99 = rank 594), so each percentile sits well inside one group.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from smimesh.telemetry.scrape import Bin


def pattern(total: int = 600, seed: int = 6) -> list[str]:
    """10 % `/fail`, 15 % `/slow50`, 5 % `/slow200`, the rest fast, in a fixed shuffled order."""
    tenth = total // 10
    paths = ["/fail"] * tenth + ["/slow50"] * (tenth * 3 // 2) + ["/slow200"] * (tenth // 2)
    paths += ["/"] * (total - len(paths))
    random.Random(seed).shuffle(paths)
    return paths


@dataclass
class Sent:
    statuses: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(1 for s in self.statuses if s >= 500)

    @property
    def successes(self) -> int:
        return len(self.statuses) - self.failures

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile of what the client measured."""
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def send(url: Callable[[str], str], paths: Sequence[str]) -> Sent:
    sent = Sent()
    with httpx.Client(timeout=10) as client:
        for path in paths:
            started = time.perf_counter()
            response = client.get(url(path))
            sent.latencies_ms.append((time.perf_counter() - started) * 1000)
            sent.statuses.append(response.status_code)
    return sent


def bin_width(bins: Sequence[Bin], value: float) -> float:
    return next((b.width for b in bins if b.lower <= value <= b.upper), 0.0)
