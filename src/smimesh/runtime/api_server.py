"""The control plane's HTTP API served by uvicorn inside `smimesh up`'s own event loop.

Owns binding the API socket (so "address in use" becomes a clear error, not uvicorn's exit) and
running uvicorn without its signal handlers: `smimesh up` owns SIGINT/SIGTERM and stops the API
as one step of its ordered shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from smimesh.errors import SmimeshError, UsageError


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # signals belong to `smimesh up`, which stops this server in order


def parse_addr(addr: str) -> tuple[str, int]:
    """`127.0.0.1:15080` -> ("127.0.0.1", 15080); a clear usage error otherwise."""
    host, _, port = addr.strip().removeprefix("http://").rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"invalid address {addr!r}", hint="write HOST:PORT, e.g. 127.0.0.1:15080")
    return host.strip("[]"), int(port)


def bind(addr: str) -> socket.socket:
    host, port = parse_addr(addr)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SmimeshError(
            f"cannot listen on {addr} for the API: {exc.strerror or exc}",
            hint="is another `smimesh up` running? Stop it, or pick another address: --api-addr 127.0.0.1:0",
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ApiServer:
    """`await start()` binds and serves; `await stop()` ends it. `address` is the bound HOST:PORT."""

    def __init__(self, app: Any, addr: str) -> None:
        self._app = app
        self._addr = addr
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.address = addr

    async def start(self) -> str:
        sock = bind(self._addr)
        host, port = sock.getsockname()[:2]
        self.address = f"{host}:{port}"
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off", access_log=False)
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="api server")
        while not self._server.started and not self._task.done():  # noqa: ASYNC110 (uvicorn has no event)
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # re-raise why it could not start
        return self.address

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(self._task, 3.0)
        except TimeoutError:
            self._server.force_exit = True
            await self._task
