"""A tiny, fast HTTP/1.1 backend for the data-plane benchmark: 1 KB responses on keep-alive connections.

Why not `http.server`: it parses headers in Python per request and is the bottleneck long before a
proxy is. This is an asyncio `Protocol` that answers every complete request head with one pre-built
response (1,024-byte body), so the backend's cost per request is a buffer scan and one `write`.
Pipelined requests are answered in order. Standalone on purpose (stdlib only): `smimesh up` runs it
as a workload by file path, so it reads `HOST`/`PORT` from the environment like any workload.

    python bench/dataplane/backend.py [--host 127.0.0.1] [--port N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

BODY = (b"smimesh-bench-" * 80)[:1024]
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(BODY)
    + BODY
)
HEAD_END = b"\r\n\r\n"


class OneResponse(asyncio.Protocol):
    """Answers each request head (requests carry no body in this benchmark) with RESPONSE."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.pending + data
        complete = buffer.count(HEAD_END)
        if complete and self.transport is not None:
            self.transport.write(RESPONSE * complete)
            buffer = buffer[buffer.rfind(HEAD_END) + len(HEAD_END) :]
        self.pending = buffer


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(OneResponse, host, port, reuse_address=True, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
