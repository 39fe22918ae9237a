"""The sidecar's startup and readiness check (`smimesh sidecar-ready`), run by kubelet in the sidecar.

Two things must hold before the app may start and while the pod takes traffic: Envoy is ready (its
admin `/ready` answers LIVE: initialised from the control plane), and traffic capture is in force — a
connection to the capture canary is redirected to the health port, proving the nat rules of
`smimesh capture` exist in this namespace (the proxy's own UID is exempt from capture, so the canary rule
comes before that exemption). Each failure is one sentence naming the cause and what to look at.
Imports only the standard library: kubelet runs this every few seconds.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from smimesh.pods.layout import CAPTURE_CANARY

TIMEOUT_S = 2.0


def envoy_problem(admin_port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=TIMEOUT_S) as answer:
            return "" if answer.status == 200 else f"Envoy is not ready ({answer.status})"
    except urllib.error.HTTPError as exc:
        state = exc.read().decode(errors="replace").strip()
        return f"Envoy is not ready yet ({state or exc.code}): no config from the control plane yet"
    except OSError as exc:
        return f"Envoy's admin on 127.0.0.1:{admin_port} does not answer ({exc}): is Envoy running?"


def capture_problem() -> str:
    host, port = CAPTURE_CANARY
    request = f"GET /smimesh/capture HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection(CAPTURE_CANARY, timeout=TIMEOUT_S) as conn:
            conn.sendall(request)
            head = conn.recv(64)
    except OSError as exc:
        head = f"{exc.strerror or type(exc).__name__}".encode()
    if head.startswith(b"HTTP/1.") and b" 200" in head[:13]:
        return ""
    return (
        f"traffic capture is not in force in this pod: a connection to the capture canary {host}:{port} "
        f"was not redirected to the sidecar ({head.decode(errors='replace').strip() or 'no answer'}); the "
        "smimesh-capture init container did not run or its nat rules were removed, so the app's traffic "
        "would bypass the mesh — restart the pod (kubectl delete pod) and check that init container's log"
    )


def problems(admin_port: int) -> list[str]:
    return [p for p in (capture_problem(), envoy_problem(admin_port)) if p]
