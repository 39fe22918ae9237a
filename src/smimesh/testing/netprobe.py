"""A tiny TCP probe for namespace tests: `serve PORT LABEL` answers each connection with one line
(`LABEL local=IP:PORT original=IP:PORT`, the original destination read with SO_ORIGINAL_DST, so a
redirected connection says where it was going); `connect IP PORT` prints that line, or `ERROR <reason>`.
`echo PORT LABEL` is client-first (reads a line, answers `LABEL got <line>`); `greet PORT LABEL` is
server-first (SMTP-like: says `LABEL ready` first, then answers like `echo`); `ask IP PORT TEXT` sends
TEXT and prints the last line of the answer. `tls-serve PORT LABEL` answers each TLS connection (a self-signed
certificate made at start) with `LABEL tls sni=<the SNI it received>`; `tls-ask HOST PORT SNI` makes a
TLS connection with that SNI (no certificate check: what is tested is where the SNI lets it go) and
prints the answer, or `ERROR <reason>`.
Run with `python -m smimesh.testing.netprobe` inside a namespace."""

from __future__ import annotations

import datetime
import socket
import ssl
import struct
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SO_ORIGINAL_DST = 80


def original_destination(conn: socket.socket) -> str:
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError:
        return "-"
    port, packed = struct.unpack_from("!2xH4s", raw)
    return f"{socket.inet_ntoa(packed)}:{port}"


@contextmanager
def _listening(port: int) -> Iterator[socket.socket]:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(64)
        print("listening", flush=True)
        yield listener


def serve(port: int, label: str) -> None:
    with _listening(port) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                local = "{}:{}".format(*conn.getsockname())
                conn.sendall(f"{label} local={local} original={original_destination(conn)}\n".encode())


def echo(port: int, label: str, greeting: bool = False) -> None:
    with _listening(port) as listener:
        while True:
            conn, _ = listener.accept()
            with conn:
                if greeting:  # server-first: it speaks before the client has said anything
                    conn.sendall(f"{label} ready\n".encode())
                line = conn.makefile().readline().strip()
                conn.sendall(f"{label} got {line}\n".encode())


def ask(host: str, port: int, text: str) -> None:
    lines: list[str] = []
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            conn.sendall(f"{text}\n".encode())
            lines.extend(line.strip() for line in conn.makefile())  # the server closes after its answer
    except OSError as exc:
        if not lines:
            print(f"ERROR {exc.strerror or type(exc).__name__}")
            return
    print(lines[-1] if lines else "ERROR closed without an answer")


def connect(host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            print(conn.makefile().readline().strip() or "ERROR empty answer")
    except OSError as exc:
        print(f"ERROR {exc.strerror or type(exc).__name__}")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netprobe")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def tls_serve(port: int, label: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        context.load_cert_chain(*_self_signed(Path(directory)))
    seen: list[str | None] = [None]

    def remember(_sock: object, name: str | None, _context: object) -> None:
        seen[0] = name

    context.sni_callback = remember
    with _listening(port) as listener:
        while True:
            conn, _ = listener.accept()
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(f"{label} tls sni={seen[0]}\n".encode())
            except OSError:
                continue


def tls_ask(host: str, port: int, sni: str) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=3) as conn,
            context.wrap_socket(conn, server_hostname=sni) as tls,
        ):
            print(tls.makefile().readline().strip() or "ERROR closed without an answer")
    except OSError as exc:
        print(f"ERROR {exc.strerror or type(exc).__name__}")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] in ("echo", "greet"):
        echo(int(sys.argv[2]), sys.argv[3], greeting=sys.argv[1] == "greet")
    elif sys.argv[1] == "tls-serve":
        tls_serve(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "tls-ask":
        tls_ask(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "ask":
        ask(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        connect(sys.argv[2], int(sys.argv[3]))
