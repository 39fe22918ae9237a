"""A benchmark's helper process that lives while its stdin is open (the ADS fleet, the test API server).

Owns `StdinChild`: subclasses start `self.process` in `__aenter__`; `pid` names it for the contention
measure, and leaving the context closes its stdin (its signal to stop) and waits, killing it after 30 s.
"""

from __future__ import annotations

import asyncio


class StdinChild:
    """See the module docstring."""

    process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def __aexit__(self, *exc: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
