"""One HTTP exchange with a port on a pod's loopback, through the API server's `pods/portforward`.

What `istioctl proxy-config` does to read a sidecar's Envoy admin (bound to the pod's 127.0.0.1, so
reachable from nowhere else): `GET /api/v1/namespaces/NS/pods/NAME/portforward?ports=PORT` upgraded to
a WebSocket, subprotocol `v4.channel.k8s.io` (or the older `portforward.k8s.io`, the same framing for
one port). Each binary message starts with its channel byte: channel 0 carries the port's bytes both
ways, channel 1 the kubelet's error text; the first message the server sends on each channel starts
with the port number (2 bytes, little-endian), which is not data. The API server authenticates the
kubeconfig's user and checks RBAC (`create` on `pods/portforward`); a refusal is an ordinary HTTP
answer with a Status body instead of the upgrade.

Owns `admin_get(cluster, namespace, pod, port, target) -> PodAnswer` (and `status_message`, an error
answer's text, for the pod read before it): one `GET target` (HTTP/1.1,
`Connection: close`) sent down channel 0 and the answer parsed with h11 (httpcore's parser). Errors
are `SmimeshError`s saying what went wrong (refused, not found, the API server silent, the port
closed in the pod), never a traceback. Why the `websockets` library: docs/dependencies.md.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from dataclasses import dataclass
from urllib.parse import quote

import h11
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from smimesh.errors import SmimeshError
from smimesh.sources.kubernetes.kubeconfig import ClusterConfig

SUBPROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
DATA, ERROR = 0, 1  # the channels of the first (only) port asked for
TIMEOUT_S = 10.0
HINTS = {  # by the API server's refusal code (also for reading the pod first)
    403: "ask for `get` on `pods` and `create` on `pods/portforward` in that namespace "
    "(`kubectl auth can-i create pods/portforward -n NS`)",
    404: "`kubectl get pods -n NS` lists the pods there",
}


@dataclass(frozen=True, slots=True)
class PodAnswer:
    status: int
    body: bytes


def portforward_url(cluster: ClusterConfig, namespace: str, pod: str, port: int) -> str:
    base = cluster.server.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/portforward?ports={port}"


def _tls(cluster: ClusterConfig) -> ssl.SSLContext | None:
    if not cluster.server.startswith("https://"):
        return None
    context = cluster.verify()
    if context is False:  # insecure-skip-tls-verify, as the rest of the client does
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context if isinstance(context, ssl.SSLContext) else None


def status_message(code: int, body: bytes) -> str:
    """The message of the API server's error answer: its Status's `message`, else its text."""
    try:
        status = json.loads(body or b"{}")
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return body.decode(errors="replace").strip() or f"HTTP {code}"


def _refusal(error: InvalidStatus, what: str) -> SmimeshError:
    """The API server's Status answer (403 Forbidden, 404 NotFound, 400 ...) as a clear error."""
    code = error.response.status_code
    message = status_message(code, bytes(error.response.body or b""))
    return SmimeshError(f"{what}: the API server answered {code}: {message}", hint=HINTS.get(code, ""))


def _open(cluster: ClusterConfig, namespace: str, pod: str, port: int, what: str) -> ClientConnection:
    token = cluster.bearer()
    try:
        return connect(
            portforward_url(cluster, namespace, pod, port),
            ssl=_tls(cluster),
            subprotocols=[*SUBPROTOCOLS],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {token}"} if token else None,
            proxy=None,  # as the rest of the client: the kubeconfig says where the server is
            compression=None,
            open_timeout=TIMEOUT_S,
            max_size=None,
        )
    except InvalidStatus as error:
        raise _refusal(error, what) from None
    except (OSError, InvalidHandshake, TimeoutError) as error:
        raise SmimeshError(
            f"{what}: the API server does not answer ({error})",
            hint="check --kubeconfig / --context (`kubectl cluster-info`)",
        ) from None


class _Channels:
    """Splits the server's messages by channel, dropping each channel's leading port number."""

    def __init__(self) -> None:
        self.started: set[int] = set()

    def payload(self, message: bytes) -> tuple[int, bytes]:
        channel, data = message[0], message[1:]
        if channel not in self.started:
            self.started.add(channel)
            data = data[2:]
        return channel, data


def _request(target: str) -> bytes:
    conn = h11.Connection(h11.CLIENT)
    headers = [("Host", "localhost"), ("Connection", "close"), ("Accept", "*/*")]
    head = conn.send(h11.Request(method="GET", target=target, headers=headers)) or b""
    return head + (conn.send(h11.EndOfMessage()) or b"")


def _read_answer(ws: ClientConnection, what: str) -> PodAnswer:
    parser, channels, status, body = h11.Connection(h11.CLIENT), _Channels(), 0, bytearray()
    parser.send(h11.Request(method="GET", target="/", headers=[("Host", "localhost")]))
    parser.send(h11.EndOfMessage())
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            parser.receive_data(_next_data(ws, channels, what))
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return PodAnswer(status, bytes(body))


def _next_data(ws: ClientConnection, channels: _Channels, what: str) -> bytes:
    """The next bytes of the port's stream (b"" at its end); the error channel's text is raised."""
    while True:
        try:
            message = ws.recv(timeout=TIMEOUT_S)
        except ConnectionClosed:
            return b""
        except TimeoutError:
            raise SmimeshError(f"{what}: no answer within {TIMEOUT_S:.0f} s") from None
        if isinstance(message, str) or not message:
            continue
        channel, data = channels.payload(message)
        if channel == ERROR and data:
            raise SmimeshError(f"{what}: {data.decode(errors='replace').strip()}")
        if channel == DATA and data:
            return data


def admin_get(cluster: ClusterConfig, namespace: str, pod: str, port: int, target: str) -> PodAnswer:
    """`GET target` on the pod's loopback `port` (see the module docstring)."""
    what = f"port-forward to pod {namespace}/{pod} port {port}"
    with _open(cluster, namespace, pod, port, what) as ws:
        with contextlib.suppress(ConnectionClosed):  # ended at once: its error message is read below
            ws.send(bytes([DATA]) + _request(target))
        try:
            return _read_answer(ws, what)
        except h11.RemoteProtocolError as error:
            raise SmimeshError(f"{what}: the port closed before a whole HTTP answer ({error})") from None
