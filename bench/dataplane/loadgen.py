"""Load for the data-plane benchmark: a constant-rate generator (no coordinated omission) and wrk at max.

Constant rate: request i is due at start + i/rate whatever happened to earlier requests. A scheduler
releases due requests on time and never waits for responses; a released request takes an idle
keep-alive connection from a pool (waiting for one if all are busy) and its latency runs from its
release, so a stall of the system under test counts against every request queued behind it — the
correction wrk2 makes. Release lag behind the schedule (the event loop's timer granularity, the
generator's own delay) is reported separately as `release_lag_ms` rather than blamed on the proxy.

Max rate: Debian's `wrk` (closed loop, as many requests as the connections can carry).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

CONNECT_TIMEOUT_S = 5.0
PERCENTILES = (50, 90, 99, 99.9)


@dataclass
class Tally:
    latencies_s: list[float] = field(default_factory=list)
    lags_s: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0
    non_200: int = 0
    released_span_s: float = 0.0  # first due time to last release: a lagging generator stretches it

    def merge(self, other: Tally) -> None:
        """Add another run's requests (rounds of the same path and rate are pooled)."""
        self.latencies_s += other.latencies_s
        self.lags_s += other.lags_s
        self.released_span_s += other.released_span_s
        self.sent += other.sent
        self.errors += other.errors
        self.non_200 += other.non_200


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (the smallest value with at least p % of the values at or below it)."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ordered = sorted(values_s)
    return {f"p{p:g}": round(percentile(ordered, p) * 1e3, 4) for p in PERCENTILES} | {
        "max": round(ordered[-1] * 1e3, 4) if ordered else float("nan")
    }


class Connection:
    """One keep-alive connection; after a failure it reconnects on its next use."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def open(self) -> Connection:
        if self.streams is None:
            self.streams = await asyncio.wait_for(asyncio.open_connection(*self.target), CONNECT_TIMEOUT_S)
        return self

    async def exchange(self, request: bytes) -> int:
        """Send one request, read the whole response; return its status."""
        await self.open()
        assert self.streams is not None
        reader, writer = self.streams
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        return status

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None

    async def aclose(self) -> None:
        """Close and wait until the socket is released (a bare close leaks it if the loop stops first)."""
        if self.streams is not None:
            writer, self.streams = self.streams[1], None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _one(pool: asyncio.Queue[Connection], request: bytes, released: float, tally: Tally) -> None:
    loop = asyncio.get_running_loop()
    connection = await pool.get()
    try:
        status = await connection.exchange(request)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
        tally.errors += 1
        connection.close()
    else:
        tally.latencies_s.append(loop.time() - released)
        tally.non_200 += status != 200
    finally:
        pool.put_nowait(connection)


async def constant_rate(
    host: str, port: int, host_header: str, rate: float, duration_s: float, connections: int = 32
) -> Tally:
    """Send `rate` requests per second for `duration_s` seconds; latency from release, per request."""
    request = f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: smimesh-bench\r\n\r\n".encode()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):  # opened before the clock starts: connects are not measured
        pool.put_nowait(await Connection((host, port)).open())
    loop, tasks = asyncio.get_running_loop(), set[asyncio.Task[None]]()
    total, start = int(rate * duration_s), loop.time() + 0.05
    tally = Tally(sent=total)
    for i in range(total):
        due = start + i / rate
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        released = loop.time()
        tally.lags_s.append(released - due)
        task = asyncio.create_task(_one(pool, request, released, tally))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    tally.released_span_s = loop.time() - start + 1 / rate  # the last release's slot included
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    for task in tasks:  # still unanswered after 10 s: not completed, and not left running past the run
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    while not pool.empty():
        await pool.get_nowait().aclose()
    return tally


def rate_result(rate: float, duration_s: float, tally: Tally) -> dict[str, object]:
    """The JSON of one (path, rate): counts, latency percentiles (ms) and release lag."""
    return {
        "rate": rate,
        "duration_s": duration_s,
        "sent": tally.sent,
        "completed": len(tally.latencies_s),
        "errors": tally.errors,
        "non_200": tally.non_200,
        "latency_ms": summary_ms(tally.latencies_s),
        "release_lag_ms": summary_ms(tally.lags_s),
        "achieved_rps": round(tally.sent / tally.released_span_s, 1) if tally.released_span_s > 0 else None,
    }


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles, errors from `wrk --latency` output."""
    rps = re.search(r"Requests/sec:\s*([\d.]+)", output)
    latencies = {f"p{p}": _ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.M)}
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    total = re.search(r"(\d+) requests in", output)
    return {
        "requests_per_s": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "latency_ms": latencies,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


def wrk_max(
    url: str, host_header: str, duration_s: float, connections: int, cpus: frozenset[int]
) -> dict[str, Any]:
    """wrk (one thread, `connections` keep-alive connections) pinned to `cpus`, closed loop."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk not installed (apt-get install -y wrk)"}
    command = [
        "taskset",
        "-c",
        ",".join(map(str, sorted(cpus))),
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--latency",
        "-H",
        f"Host: {host_header}",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 30, check=False)
    result = parse_wrk(done.stdout)
    result.update({"duration_s": duration_s, "connections": connections, "tool": "wrk 4.1.0 (closed loop)"})
    if done.returncode != 0:
        result["failed"] = done.stderr.strip()[-500:]
    return result
