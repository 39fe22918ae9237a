"""Serving the API app with uvicorn inside the caller's event loop (the one grpc.aio runs in).

`ApiServer(app, "127.0.0.1:15080")`: `await start() -> port` binds the socket itself (so a port
in use is a clear `SmimeshError`, not uvicorn's `sys.exit`), serves as a task the server owns,
and never touches signal handlers (the runtime owns SIGINT/SIGTERM); `await stop()` shuts it down.
`ThreadedApiServer` runs the same in a thread with its own loop, for tests of synchronous clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import uvicorn

from smimesh.errors import SmimeshError


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the runtime, not uvicorn, decides what a signal does


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise SmimeshError(f"bad API address {addr!r}", hint="use HOST:PORT, e.g. 127.0.0.1:15080")
    return host.strip("[]"), int(port)


def bind(addr: str) -> socket.socket:
    host, port = split_addr(addr)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP; without it every keep-alive answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SmimeshError(
            f"cannot listen on {addr} for the API: {exc.strerror}",
            hint="another `smimesh up` may be running; pick another address with --api-addr",
        ) from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ApiServer:
    """uvicorn serving `app` on the running loop; see the module docstring."""

    def __init__(
        self, app: Any, addr: str = "127.0.0.1:0", *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._app = app
        self._addr = addr
        self._ssl = ssl_context  # served as is: whoever owns it may load a new certificate into it
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def start(self) -> int:
        sock = bind(self._addr)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="warning", lifespan="off", access_log=False)
        if self._ssl is not None:
            config.load()
            config.ssl = self._ssl
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="smimesh-api")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # surfaces the failure
                raise SmimeshError("the API server stopped while starting")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None


class ThreadedApiServer:
    """`with ThreadedApiServer(make_app) as server: server.addr` — the app is made in the thread's loop."""

    def __init__(self, make_app: Callable[[], Awaitable[Any]], addr: str = "127.0.0.1:0") -> None:
        self._make_app = make_app
        self._addr = addr
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="smimesh-api-test", daemon=True)
        self.addr = ""

    def __enter__(self) -> ThreadedApiServer:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the caller of __enter__
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = ApiServer(await self._make_app(), self._addr)
        port = await server.start()
        self.addr = f"{split_addr(self._addr)[0]}:{port}"
        self._ready.set()
        await self._stop.wait()
        await server.stop()

    def call(self, coroutine: Awaitable[Any]) -> Any:
        """Run `coroutine` in the server's loop (e.g. to touch the store) and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)  # type: ignore[arg-type]
