"""A tiny TCP probe for namespace tests: `serve PORT LABEL` answers each connection with one line
(`LABEL local=IP:PORT original=IP:PORT`, the original destination read with SO_ORIGINAL_DST, so a
redirected connection says where it was going); `connect IP PORT` prints that line, or `ERROR <reason>`.
`echo PORT LABEL` is client-first (reads a line, answers `LABEL got <line>`); `ask IP PORT TEXT` sends
TEXT and prints the answer.
Run with `python -m smimesh.testing.netprobe` inside a namespace."""

from __future__ import annotations

import socket
import struct
import sys

SO_ORIGINAL_DST = 80


def original_destination(conn: socket.socket) -> str:
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError:
        return "-"
    port, packed = struct.unpack_from("!2xH4s", raw)
    return f"{socket.inet_ntoa(packed)}:{port}"


def serve(port: int, label: str) -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(64)
        print("listening", flush=True)
        while True:
            conn, _ = listener.accept()
            with conn:
                local = "{}:{}".format(*conn.getsockname())
                conn.sendall(f"{label} local={local} original={original_destination(conn)}\n".encode())


def echo(port: int, label: str) -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(64)
        print("listening", flush=True)
        while True:
            conn, _ = listener.accept()
            with conn:
                line = conn.makefile().readline().strip()
                conn.sendall(f"{label} got {line}\n".encode())


def ask(host: str, port: int, text: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            conn.sendall(f"{text}\n".encode())
            print(conn.makefile().readline().strip() or "ERROR closed without an answer")
    except OSError as exc:
        print(f"ERROR {exc.strerror or type(exc).__name__}")


def connect(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            print(conn.makefile().readline().strip() or "ERROR empty answer")
    except OSError as exc:
        print(f"ERROR {exc.strerror or type(exc).__name__}")


if __name__ == "__main__":
    if sys.argv[1] in ("serve", "echo"):
        (serve if sys.argv[1] == "serve" else echo)(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "ask":
        ask(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        connect(sys.argv[2], int(sys.argv[3]))
