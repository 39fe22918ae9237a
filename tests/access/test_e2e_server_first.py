"""End to end: a server-first TCP application (it speaks first: SMTP, MySQL...) behind the mesh.

A caller no TrafficTarget allows must not receive a single byte of it, not even the greeting the
app sends before the caller has said anything: Envoy's network RBAC decides on the caller's first
byte, so the destination refuses such a caller at the mTLS handshake instead (its certificate's
SPIFFE id is not among the port's allowed sources), and the app is never even connected. The
destination is the authority: since a caller's own sidecar holds no route to a service it may not
call, the denied caller here also connects straight to the destination's inbound port with a real
mesh certificate of its identity (issued by the mesh's root, as a stale or misbehaving sidecar
would hold), reading without sending. Checked in `strict` and `permissive` namespaces (plaintext to
a permissive port too); allowed callers still get the greeting and their echo; in an `audit`
namespace the caller is let through and its connection logged. The refusal is counted where
`smimesh stat` and `explain --live` count RBAC denials.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from typing import Any

import httpx
import pytest

from smimesh.testing.access_e2e import (
    Mesh,
    eventually,
    http_workload,
    mesh_certificate,
    rows,
    tcp_workload,
    write,
)

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

GREETING = "220 mail ready"
CONFIG = """
apiVersion: smimesh.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
spec:
  namespaces:
    perm: {mtls: permissive}
    legacy: {mtls: permissive, audit: true}
"""


def client_to_mail(namespace: str) -> str:
    return f"""
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {{name: smtp, namespace: {namespace}}}
spec: {{matches: {{ports: [2525]}}}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: client-to-mail, namespace: {namespace}}}
spec:
  destination: {{kind: ServiceAccount, name: mail, namespace: {namespace}}}
  rules: [{{kind: TCPRoute, name: smtp}}]
  sources: [{{kind: ServiceAccount, name: client, namespace: shop}}]
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    tmp = tmp_path_factory.mktemp("server-first")
    directory = tmp / "mesh"
    directory.mkdir()
    documents = [tcp_workload("mail", "mail", 2525, ns, GREETING) for ns in ("shop", "perm", "legacy")]
    documents += [http_workload("client"), http_workload("other")]
    write(directory / "workloads.yaml", "\n---\n".join(documents))
    write(directory / "access.yaml", client_to_mail("shop") + "---\n" + client_to_mail("perm"))
    config = tmp / "mesh-config.yaml"
    config.write_text(CONFIG)
    running = Mesh(directory, tmp / "run", tmp / "contexts.json")
    running.env["SMIMESH_MESH_CONFIG"] = str(config)
    running.start()
    try:
        running.wait_ready(expected_instances=5)
        yield running
    finally:
        assert running.stop() == 0


def received(address: str, send: bytes = b"", *, tls: ssl.SSLContext | None = None) -> bytes:
    """Every byte the far end sends on a new connection (after `send`, if any; over mTLS with `tls`)
    until it closes, a second line arrives, or 5 s pass with nothing new."""
    host, _, port = address.rpartition(":")
    got = b""
    try:
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            tls.wrap_socket(raw) if tls else raw as connection,  # the TLS wrapper owns the socket: close it
        ):
            connection.sendall(send)
            while got.count(b"\n") < (2 if send else 1):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError:  # refused, reset, a TLS alert or a timeout: what arrived before it is the answer
        pass
    return got


@pytest.fixture(scope="module")
def direct(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ssl.SSLContext]:
    """mTLS contexts of `other` (no TrafficTarget names it) and `client` (allowed), by service account."""
    directory = tmp_path_factory.mktemp("certificates")
    return {sa: mesh_certificate(mesh, sa, directory) for sa in ("other", "client")}


def inbound(mesh: Mesh, namespace: str) -> str:
    """The inbound listener of `mail.<namespace>`'s sidecar (what callers' sidecars connect to)."""
    row = next(r for r in mesh.instances() if r["namespace"] == namespace and r["workload"] == "mail")
    listeners = httpx.get(f"http://{row['admin']}/listeners", timeout=5).text.split()
    return next(line.split("::", 1)[1] for line in listeners if line.startswith("inbound|"))


def upstream(mesh: Mesh, instance: str, namespace: str) -> str:
    return str(rows(mesh)[instance]["tcp_upstreams"][f"mail.{namespace}:2525"])  # type: ignore[index]


def accepted(mesh: Mesh, namespace: str) -> int:
    """How many connections the app of `mail.<namespace>` has accepted (its log says each)."""
    return (mesh.run_dir / "logs" / namespace / "mail-0.log").read_text().count("connection from")


def test_a_denied_caller_that_only_reads_gets_no_greeting(
    mesh: Mesh, direct: dict[str, ssl.SSLContext]
) -> None:
    greeting = f"mail-0 {GREETING}\n".encode()
    for namespace in ("shop", "perm"):  # strict, permissive
        before = accepted(mesh, namespace)
        assert received(inbound(mesh, namespace), tls=direct["other"]) == b"", namespace
        assert received(inbound(mesh, namespace), b"EHLO thief\n", tls=direct["other"]) == b"", namespace
        assert received(upstream(mesh, "other-0", namespace)) == b"", namespace  # its own sidecar: no route
        # The same direct path with an allowed identity is greeted (the refusal is the identity's) ...
        assert received(inbound(mesh, namespace), tls=direct["client"]) == greeting, namespace
        # ... and the app was never connected for the refused ones: its log shows only that one.
        eventually(lambda ns=namespace, n=before: accepted(mesh, ns) > n, 10, what="admitted", mesh=mesh)
        assert accepted(mesh, namespace) == before + 1, namespace


def test_plaintext_to_a_permissive_server_first_port_gets_nothing(mesh: Mesh) -> None:
    assert received(inbound(mesh, "perm")) == b""
    assert received(inbound(mesh, "perm"), b"EHLO plain\n") == b""


def test_an_allowed_caller_gets_the_greeting_and_its_echo(mesh: Mesh) -> None:
    for namespace in ("shop", "perm"):
        address = upstream(mesh, "client-0", namespace)
        assert received(address) == f"mail-0 {GREETING}\n".encode(), namespace
        answer = received(address, b"EHLO client\n")
        assert answer == f"mail-0 {GREETING}\nmail-0 EHLO client\n".encode(), namespace


def test_audit_lets_the_caller_through_and_logs_it(mesh: Mesh) -> None:
    assert received(upstream(mesh, "other-0", "legacy")) == f"mail-0 {GREETING}\n".encode()
    logs = mesh.run_dir / "logs" / "legacy"

    def logged() -> bool:
        text = "".join(p.read_text(errors="replace") for p in logs.glob("mail-0*.envoy.log"))
        return '"smimesh_request":"tcp"' in text.replace(" ", "") and "/ns/shop/sa/other" in text

    eventually(logged, 20, what="the audit connection line in mail.legacy's log", mesh=mesh)


def smimesh(mesh: Mesh, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "smimesh", *args, "-o", "json", "--api-addr", mesh.api]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=mesh.env)
    assert result.returncode in (0, 1), result.stderr  # explain: 1 = denied
    return dict(json.loads(result.stdout))


def test_the_refused_caller_counts_as_an_rbac_denial(mesh: Mesh, direct: dict[str, ssl.SSLContext]) -> None:
    def denied() -> int:
        return int(
            smimesh(mesh, "stat", "deploy", "mail", "-n", "shop", "--routes", "-w", "5m")["denied_count"]
        )

    def refused() -> int:
        explain = ["explain", "--from", "shop/other", "--to", "mail.shop:2525", "--live"]
        (row,) = smimesh(mesh, *explain)["live"]
        return int(row["counters"].get("denied_at_handshake", 0))

    before, refused_before = denied(), refused()
    assert received(inbound(mesh, "shop"), tls=direct["other"]) == b""
    eventually(lambda: refused() > refused_before, 20, what="the refusal in explain --live", mesh=mesh)
    eventually(lambda: denied() > before, 40, what="the denial in stat", mesh=mesh)


def test_a_new_traffic_target_admits_the_caller_at_the_handshake_and_deleting_it_refuses_again(
    mesh: Mesh, direct: dict[str, ssl.SSLContext]
) -> None:
    """The handshake's allowed identities follow the policies live (a listener update)."""
    greeting = f"mail-0 {GREETING}\n".encode()
    target = client_to_mail("shop").split("---\n", 1)[1].replace("client", "other")
    write(mesh.directory / "other-to-mail.yaml", target)
    eventually(lambda: received(inbound(mesh, "shop"), tls=direct["other"]) == greeting, 20, what="admitted")
    eventually(lambda: received(upstream(mesh, "other-0", "shop")) == greeting, 20, what="its sidecar too")
    (mesh.directory / "other-to-mail.yaml").unlink()
    eventually(lambda: received(inbound(mesh, "shop"), tls=direct["other"]) == b"", 20, what="refused again")
    assert received(upstream(mesh, "client-0", "shop")) == greeting  # the allowed caller all along
