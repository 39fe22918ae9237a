"""Is an app serving on a port? TCP: it accepts a connection; UDP: some socket is bound to the port.

A UDP app never accepts a connection, so the readiness gate (an instance is an endpoint only while
its app serves) needs a second test. Binding the port ourselves to see whether it is taken could
steal it from an app that is starting, so the kernel's table of bound UDP sockets (`/proc/net/udp`,
`/proc/net/udp6`) is read instead; where there is no /proc, a UDP port never counts as serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

_UDP_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
_POLL_S = 0.05


def udp_bound_ports() -> set[int]:
    """Local ports of every UDP socket the kernel reports (all addresses)."""
    ports: set[int] = set()
    for table in _UDP_TABLES:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 1 and ":" in fields[1]:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def _accepts_tcp(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def wait_serving(host: str, port: int, timeout_s: float) -> bool:
    """True once `port` accepts TCP connections or has a bound UDP socket; False after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (await _accepts_tcp(host, port) or port in udp_bound_ports()):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True
