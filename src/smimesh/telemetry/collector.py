"""The built-in collector: scrape every sidecar on an interval and feed the sliding window.

The runtime owns the task (`asyncio.create_task(collector.run())`, cancelled at shutdown); the
collector owns only its HTTP client. Each round scrapes all sidecars concurrently; a sidecar that
does not answer is skipped this round (its baseline is kept, so nothing is lost: the next good
scrape carries the difference) and its error is kept in `errors` for status pages. An instance
that left the topology is forgotten.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from smimesh.telemetry.edges import Pod, Topology, readings_from_sample
from smimesh.telemetry.scrape import ScrapeError, scrape
from smimesh.telemetry.window import SlidingWindow


class Collector:
    """Scrapes `topology().pods` every `interval_s` into `window`."""

    def __init__(
        self,
        topology: Callable[[], Topology],
        window: SlidingWindow,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topology, self.window, self.interval_s, self.clock = topology, window, interval_s, clock
        self.errors: dict[str, str] = {}
        self.last_round_s = 0.0
        self._known: set[str] = set()

    async def run(self) -> None:
        """Scrape forever (until cancelled)."""
        async with httpx.AsyncClient() as client:
            while True:
                started = time.monotonic()
                await self.scrape_round(client)
                await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def scrape_round(self, client: httpx.AsyncClient) -> None:
        """One scrape of every sidecar that has an admin port."""
        started = time.monotonic()
        pods = [pod for pod in self.topology().pods.values() if pod.admin_port]
        for gone in self._known - {pod.node_id for pod in pods}:
            self.window.forget(gone)
            self.errors.pop(gone, None)
        self._known = {pod.node_id for pod in pods}
        await asyncio.gather(*(self._scrape_one(client, pod) for pod in pods))
        self.last_round_s = time.monotonic() - started

    async def _scrape_one(self, client: httpx.AsyncClient, pod: Pod) -> None:
        try:
            sample = await scrape(client, pod.host, pod.admin_port)
        except ScrapeError as exc:
            self.errors[pod.node_id] = exc.message
            return
        self.errors.pop(pod.node_id, None)
        self.window.observe(pod.node_id, readings_from_sample(pod.node_id, sample), self.clock())
