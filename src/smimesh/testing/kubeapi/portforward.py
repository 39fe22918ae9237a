"""The API server's `pods/portforward` over WebSocket, as kube-apiserver and the kubelet serve it.

`GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=P[,P2...]` upgraded to a WebSocket
(subprotocol `v4.channel.k8s.io` or `portforward.k8s.io`): for the i-th port, channel 2i carries its
bytes both ways and channel 2i+1 the errors; the first message on each of the two starts with the
port, 2 bytes little-endian (what the kubelet writes). Refusals are HTTP answers with a Status body,
before the upgrade: 403 without `create` on `pods/portforward` (`authz.py`), 404 for a missing pod,
400 without `ports`. A port that nothing listens on is an error message on its error channel, then
the connection ends.

Where "the pod's port" is: the kubelet dials 127.0.0.1:PORT inside the pod's network namespace. In
the loopback world (`tests/kubernetes`) pods share this machine's loopback, which is the default
here; `KubeApiServer.dial_pods(fn)` changes it (`fn(pod, port) -> a connected socket`, called in a
worker thread: `pod_world.pod_loopback_dialer` connects inside each pod's network namespace).
Each connection is relayed until either side ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from smimesh.testing.kubeapi.authz import Access, Authorizer
from smimesh.testing.kubeapi.objects import ApiError, Obj, ObjectStore, not_found

PORTFORWARD_PATH = "/api/v1/namespaces/{namespace}/pods/{name}/portforward"
SUBPROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
CHUNK = 64 * 1024
DIAL_TIMEOUT_S = 5.0
Dialer = Callable[[Obj, int], socket.socket]
FaultCheck = Callable[[HTTPConnection], None]  # raises the ApiError a test injected for the path


def loopback(pod: Obj, port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=DIAL_TIMEOUT_S)


@dataclass
class _Port:
    index: int
    port: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class PortForwarder:
    """See the module docstring."""

    def __init__(self, store: ObjectStore, authz: Authorizer, check_faults: FaultCheck) -> None:
        self.store, self.authz, self.check_faults = store, authz, check_faults
        self.dial: Dialer = loopback

    def _admit(self, websocket: WebSocket) -> tuple[Obj, list[int]]:
        namespace, name = websocket.path_params["namespace"], websocket.path_params["name"]
        self.check_faults(websocket)  # the app's `faults`, as for its HTTP paths
        access = Access("create", "pods/portforward", namespace, name)
        self.authz.check(websocket.headers.get("authorization", ""), access)
        pod = self.store.get(("pods", namespace, name))
        if pod is None:
            raise not_found("pods", name)
        return pod, _ports(websocket.query_params.getlist("ports"))

    async def serve(self, websocket: WebSocket) -> None:
        try:
            pod, ports = self._admit(websocket)
        except ApiError as exc:
            body = json.dumps(exc.status())
            await websocket.send_denial_response(Response(body, exc.code, media_type="application/json"))
            return
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol=next((p for p in SUBPROTOCOLS if p in offered), None))
        opened = [await self._connect(websocket, pod, i, port) for i, port in enumerate(ports)]
        connected = [p for p in opened if p is not None]
        try:
            if connected:
                await _relay(websocket, connected)
        finally:
            for port in connected:
                port.writer.close()
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):  # the client may be gone
                await websocket.close()

    async def _connect(self, websocket: WebSocket, pod: Obj, index: int, port: int) -> _Port | None:
        prefix = port.to_bytes(2, "little")
        await websocket.send_bytes(bytes([2 * index]) + prefix)
        await websocket.send_bytes(bytes([2 * index + 1]) + prefix)
        try:
            connected = await asyncio.to_thread(self.dial, pod, port)
            connected.setblocking(False)
            reader, writer = await asyncio.open_connection(sock=connected)
        except OSError as exc:
            meta = pod["metadata"]
            text = (
                f"error forwarding port {port} to pod {meta['name']}, uid {meta.get('uid', '')}: "
                f"failed to connect to localhost:{port} inside namespace {meta['namespace']}: {exc}"
            )
            await websocket.send_bytes(bytes([2 * index + 1]) + text.encode())
            return None
        return _Port(index, port, reader, writer)


def _ports(values: list[str]) -> list[int]:
    ports = [p.strip() for value in values for p in value.split(",") if p.strip()]
    if not ports:
        raise ApiError(400, "BadRequest", 'query parameter "ports" is required')
    if not all(p.isdigit() and 0 < int(p) < 65536 for p in ports):
        raise ApiError(400, "BadRequest", f"invalid port in {','.join(ports)}: 1-65535 expected")
    return [int(p) for p in ports]


async def _relay(websocket: WebSocket, ports: list[_Port]) -> None:
    """Pod -> client on each data channel, client -> pod by channel; ends when all pod sides end
    or the client goes."""
    upstream = asyncio.create_task(_from_client(websocket, {2 * p.index: p for p in ports}))
    downstream = [asyncio.create_task(_from_pod(websocket, p)) for p in ports]
    pods_done: asyncio.Future[Any] = asyncio.gather(*downstream)
    try:
        await asyncio.wait([upstream, pods_done], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [upstream, *downstream]:
            task.cancel()
        await asyncio.gather(upstream, pods_done, return_exceptions=True)  # retrieves their outcome


async def _from_pod(websocket: WebSocket, port: _Port) -> None:
    channel = bytes([2 * port.index])
    while chunk := await port.reader.read(CHUNK):
        await websocket.send_bytes(channel + chunk)


async def _from_client(websocket: WebSocket, by_channel: dict[int, _Port]) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive_bytes()
            port = by_channel.get(message[0]) if message else None
            if port is not None and len(message) > 1:
                port.writer.write(message[1:])
                await port.writer.drain()
