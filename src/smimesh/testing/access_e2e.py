"""The end-to-end world of the access tests: manifests a user would write, and helpers to probe the mesh.

`smimesh up` runs as a real process (`smimesh.testing.up`), every
request crosses two real Envoy sidecars (the caller's outbound, the destination's inbound).
"""

from __future__ import annotations

import socket
import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from smimesh.identity.leaf import issue_leaf
from smimesh.identity.spiffe import SpiffeId
from smimesh.identity.store import RootFiles, load_root_files
from smimesh.testing.up import WORKLOAD, Mesh, eventually, write

__all__ = ["WORKLOAD", "Mesh", "eventually", "write"]


def http_workload(name: str, sa: str = "", namespace: str = "shop") -> str:
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}}}}}
spec:
  serviceAccount: {sa or name}
  command: [{sys.executable}, {WORKLOAD}, serve]
  ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


def tcp_workload(name: str, sa: str, port: int, namespace: str = "shop", greeting: str = "") -> str:
    """A TCP echo; with a `greeting` it is server-first: it says `<instance> <greeting>` first."""
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}}}}}
spec:
  serviceAccount: {sa}
  command: [{sys.executable}, {WORKLOAD}, echo]
  env: {{GREETING: "{greeting}"}}
  ports: [{{name: tcp-echo, containerPort: {port}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: tcp-echo, port: {port}, targetPort: tcp-echo}}]
"""


def get(proxy: str, url: str, method: str = "GET", headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(proxy=proxy, timeout=5) as client:
        return client.request(method, url, headers=headers)


def echo(address: str, text: str = "hello") -> str:
    """One line through a TCP upstream port; "" when the mesh closes the connection."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as connection:
            connection.sendall(text.encode() + b"\n")
            return connection.makefile().readline().strip()
    except OSError:
        return ""


def rows(mesh: Mesh) -> dict[str, dict[str, object]]:
    return {str(r["instance"]): r for r in mesh.instances()}


def inbound_address(mesh: Mesh, instance: str) -> str:
    """The sidecar inbound listener of an instance (what other sidecars connect to), from its admin."""
    admin = rows(mesh)[instance]["admin"]
    listeners = httpx.get(f"http://{admin}/listeners", timeout=5).text.split()
    return next(line.split("::", 1)[1] for line in listeners if line.startswith("inbound|"))


def mesh_certificate(
    mesh: Mesh, service_account: str, directory: Path, namespace: str = "shop"
) -> ssl.SSLContext:
    """A client context presenting a certificate of `<namespace>/<service_account>` issued by the mesh's
    root (as a stale or misbehaving sidecar would hold), to call a sidecar's inbound port directly."""
    files = RootFiles.in_state_dir(mesh.run_dir)
    root = load_root_files(files.cert, files.key, now=datetime.now(UTC))
    leaf = issue_leaf(root, SpiffeId("cluster.local", namespace, service_account), now=datetime.now(UTC))
    cert, key = directory / f"{service_account}.pem", directory / f"{service_account}.key"
    cert.write_bytes(leaf.certificate_chain_pem)
    key.write_bytes(leaf.private_key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the server's gate is under test
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    return context
