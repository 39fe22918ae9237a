"""A reusable test workload (standard library only, so any `python3` can run it as a file).

    python3 workloads.py serve        # HTTP server on $HOST:$PORT
    python3 workloads.py client URL   # calls URL in a loop through $HTTP_PROXY, records what answered
    python3 workloads.py echo         # TCP on $HOST:$PORT: answers each line with "<POD_NAME> <line>"
                                      # (server-first with GREETING set: "<POD_NAME> <GREETING>" first);
                                      # prints "connection from IP:PORT" for each connection it accepts
    python3 workloads.py udp-echo     # UDP on $HOST:$PORT: answers each datagram with "<POD_NAME> <datagram>"

`serve` answers every request with JSON naming who answered: `workload` (WORKLOAD_NAME), `pod`
(POD_NAME), `namespace`, `version` (VERSION), `path`, `tcp_upstreams` and `udp_upstreams` (the
announced `SMIMESH_TCP_*` / `SMIMESH_UDP_*` variables it was started with). Per request, query
parameters steer it: `?delay=0.5` waits that many seconds (`DELAY_S=0.5` for every request),
`?status=500` answers with that status.
Scripted faults (per process): `FAIL_PATTERN=ffss` answers 503 / 200 in that repeating order
(f: fail, s: succeed) across the requests it receives; `FAIL_IF_EXISTS=FILE` answers 500 while FILE
exists (relative to the working directory).
With `UPSTREAM_URL` set, each request first calls that URL (through the mesh) and fails with 502 if
the upstream does.

`client` sends `--rate` requests per second and keeps running totals — requests, successes,
failures, and answers per `version` and per `pod` — in a JSON file (`--stats`, rewritten
atomically a few times per second) so a test or the demo's live view reads what was really seen.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socketserver
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def identity() -> dict[str, str]:
    return {
        "workload": os.environ.get("WORKLOAD_NAME", ""),
        "pod": os.environ.get("POD_NAME", ""),
        "namespace": os.environ.get("POD_NAMESPACE", ""),
        "version": os.environ.get("VERSION", ""),
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; with Nagle on, the second waits for the peer's delayed ACK
    # (~40 ms per keep-alive request). Every test and benchmark that uses this backend would pay it.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        delay = query.get("delay") or os.environ.get("DELAY_S")
        if delay:
            time.sleep(float(delay))
        status = _scripted(self.server, int(query.get("status", "200")))
        body: dict[str, Any] = {
            **identity(),
            "path": url.path,
            "method": self.command,
            "tcp_upstreams": {
                name: value for name, value in os.environ.items() if name.startswith("SMIMESH_TCP_")
            },
            "udp_upstreams": {
                name: value for name, value in os.environ.items() if name.startswith("SMIMESH_UDP_")
            },
        }
        forwarded_cert = self.headers.get("x-forwarded-client-cert")
        if forwarded_cert is not None:  # a sidecar must not pass it on (xds.route_stats): tests look
            body["x_forwarded_client_cert"] = forwarded_cert
        upstream = os.environ.get("UPSTREAM_URL")
        if upstream and status < 400:
            status, body["upstream"] = call(upstream)
            status = 200 if status < 400 else 502
        self.reply(status, body)

    do_POST = do_PUT = do_DELETE = do_GET

    def reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("ACCESS_LOG"):
            super().log_message(format, *args)


def _scripted(server: Any, status: int) -> int:
    pattern, fail_file = os.environ.get("FAIL_PATTERN"), os.environ.get("FAIL_IF_EXISTS")
    if fail_file and Path(fail_file).exists():
        return 500
    if pattern:
        # itertools.count on the server: one sequence per process, atomic under the GIL across threads
        return 503 if pattern[next(server.request_number) % len(pattern)] == "f" else status
    return status


def call(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    """GET `url` (through HTTP_PROXY when set); (status, decoded JSON body or text). Status 0: no answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read())
    except (OSError, ValueError) as error:
        return 0, str(error)


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")[:200]


def serve() -> None:
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    server.request_number = itertools.count()  # type: ignore[attr-defined]
    print(f"{identity()['pod'] or 'workload'} serving on {server.server_address}", flush=True)
    server.serve_forever()


class EchoHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        pod = os.environ.get("POD_NAME", "echo").encode()
        print(f"connection from {self.client_address[0]}:{self.client_address[1]}", flush=True)
        greeting = os.environ.get("GREETING")
        if greeting:  # a server-first protocol (SMTP, MySQL...): it speaks before the client does
            self.wfile.write(pod + b" " + greeting.encode() + b"\n")
        for line in self.rfile:
            self.wfile.write(pod + b" " + line)


def echo() -> None:
    server = socketserver.ThreadingTCPServer(
        (os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), EchoHandler
    )
    server.daemon_threads = True
    server.request_number = itertools.count()  # type: ignore[attr-defined]
    print(f"{identity()['pod'] or 'echo'} echoing on {server.server_address}", flush=True)
    server.serve_forever()


class UdpEchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        datagram, sock = self.request
        sock.sendto(os.environ.get("POD_NAME", "echo").encode() + b" " + datagram, self.client_address)


def udp_echo() -> None:
    address = (os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"]))
    server = socketserver.UDPServer(address, UdpEchoHandler)
    print(f"{identity()['pod'] or 'echo'} echoing UDP on {server.server_address}", flush=True)
    server.serve_forever()


class Stats:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, Any] = {
            "requests": 0,
            "ok": 0,
            "failed": 0,
            "by_version": {},
            "by_pod": {},
            "by_status": {},
            "last_error": "",
            "started": time.time(),
        }
        self._written = 0.0

    def record(self, status: int, body: Any) -> None:
        data = self.data
        data["requests"] += 1
        data["by_status"][str(status)] = data["by_status"].get(str(status), 0) + 1
        if 200 <= status < 400 and isinstance(body, dict):
            data["ok"] += 1
            for key, field in (("by_version", "version"), ("by_pod", "pod")):
                value = str(body.get(field) or "?")
                data[key][value] = data[key].get(value, 0) + 1
        else:
            data["failed"] += 1
            data["last_error"] = f"{status}: {str(body)[:160]}"
        self.flush()

    def flush(self, force: bool = False) -> None:
        if self.path is None or (not force and time.monotonic() - self._written < 0.2):
            return
        self.data["updated"] = time.time()
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.data))
        os.replace(temporary, self.path)
        self._written = time.monotonic()


def client(url: str, rate: float, stats_path: Path | None, count: int) -> None:
    stats = Stats(stats_path)
    interval = 1.0 / rate if rate > 0 else 0.0
    sent = 0
    while count <= 0 or sent < count:
        started = time.monotonic()
        stats.record(*call(url))
        sent += 1
        if sent % 100 == 0:
            print(
                f"{sent} requests, {stats.data['ok']} ok, by version {stats.data['by_version']}", flush=True
            )
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    stats.flush(force=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("serve", help="answer HTTP requests with who answered")
    sub.add_parser("echo", help="TCP: answer each line with the instance name and the line")
    sub.add_parser("udp-echo", help="UDP: answer each datagram with the instance name and the datagram")
    client_args = sub.add_parser("client", help="call a URL in a loop and record who answered")
    client_args.add_argument("url")
    client_args.add_argument(
        "--rate", type=float, default=20.0, help="requests per second (0: as fast as possible)"
    )
    client_args.add_argument("--stats", type=Path, default=None, help="JSON file with running totals")
    client_args.add_argument("--count", type=int, default=0, help="stop after this many requests (0: never)")
    args = parser.parse_args(argv)
    try:
        if args.mode == "serve":
            serve()
        elif args.mode == "echo":
            echo()
        elif args.mode == "udp-echo":
            udp_echo()
        else:
            client(args.url, args.rate, args.stats, args.count)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
