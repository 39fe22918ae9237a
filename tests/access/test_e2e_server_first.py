"""End to end: a server-first TCP application (it speaks first: SMTP, MySQL...) behind the mesh.

A caller no TrafficTarget allows must not receive a single byte of it, not even the greeting the
app sends before the caller has said anything: Envoy's network RBAC decides on the caller's first
byte, so the destination refuses such a caller at the mTLS handshake instead (its certificate's
SPIFFE id is not among the port's allowed sources). Checked with a denied caller that only reads,
in `strict` and `permissive` namespaces (plaintext to a permissive port too), and that allowed
callers still get the greeting and their echo; in an `audit` namespace the caller is let through
and its connection logged. The denial is counted where `smimesh stat` counts RBAC denials.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from e2e_world import Mesh, eventually, http_workload, rows, tcp_workload, write

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


def received(address: str, send: bytes = b"", timeout: float = 5.0) -> bytes:
    """Every byte the far end sends on a new connection (after `send`, if any) until it closes, a
    second line arrives, or `timeout` passes with nothing new."""
    host, _, port = address.rpartition(":")
    got = b""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as connection:
            connection.sendall(send)
            while got.count(b"\n") < (2 if send else 1):
                chunk = connection.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError:  # reset or timeout: what arrived before it is the answer
        pass
    return got


def upstream(mesh: Mesh, instance: str, namespace: str) -> str:
    return str(rows(mesh)[instance]["tcp_upstreams"][f"mail.{namespace}:2525"])  # type: ignore[index]


def accepted(mesh: Mesh, namespace: str) -> int:
    """How many connections the app of `mail.<namespace>` has accepted (its log says each)."""
    return (mesh.run_dir / "logs" / namespace / "mail-0.log").read_text().count("connection from")


def test_a_denied_caller_that_only_reads_gets_no_greeting(mesh: Mesh) -> None:
    for namespace in ("shop", "perm"):  # strict, permissive
        before = accepted(mesh, namespace)
        assert received(upstream(mesh, "other-0", namespace)) == b"", namespace
        assert received(upstream(mesh, "other-0", namespace), b"EHLO thief\n") == b"", namespace
        # The app was never even connected: its log, in order, shows only the next, admitted caller.
        assert received(upstream(mesh, "client-0", namespace)) == f"mail-0 {GREETING}\n".encode()
        eventually(lambda ns=namespace, n=before: accepted(mesh, ns) > n, 10, what="admitted", mesh=mesh)
        assert accepted(mesh, namespace) == before + 1, namespace


def test_plaintext_to_a_permissive_server_first_port_gets_nothing(mesh: Mesh) -> None:
    row = next(r for r in mesh.instances() if r["namespace"] == "perm" and r["workload"] == "mail")
    admin = str(row["admin"])
    listeners = httpx.get(f"http://{admin}/listeners", timeout=5).text.split()
    address = next(line.split("::", 1)[1] for line in listeners if line.startswith("inbound|"))
    assert received(address) == b""
    assert received(address, b"EHLO plain\n") == b""


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


def test_the_refused_caller_counts_as_an_rbac_denial(mesh: Mesh) -> None:
    def denied() -> int:
        return int(
            smimesh(mesh, "stat", "deploy", "mail", "-n", "shop", "--routes", "-w", "5m")["denied_count"]
        )

    def refused() -> int:
        explain = ["explain", "--from", "shop/other", "--to", "mail.shop:2525", "--live"]
        (row,) = smimesh(mesh, *explain)["live"]
        return int(row["counters"].get("denied_at_handshake", 0))

    before, refused_before = denied(), refused()
    assert received(upstream(mesh, "other-0", "shop")) == b""
    eventually(lambda: refused() > refused_before, 20, what="the refusal in explain --live", mesh=mesh)
    eventually(lambda: denied() > before, 40, what="the denial in stat", mesh=mesh)


def test_a_new_traffic_target_admits_the_caller_at_the_handshake_and_deleting_it_refuses_again(
    mesh: Mesh,
) -> None:
    """The handshake's allowed identities follow the policies live (a listener update)."""
    address = upstream(mesh, "other-0", "shop")
    greeting = f"mail-0 {GREETING}\n".encode()
    target = client_to_mail("shop").split("---\n", 1)[1].replace("client", "other")
    write(mesh.directory / "other-to-mail.yaml", target)
    eventually(lambda: received(address) == greeting, 20, what="other admitted", mesh=mesh)
    (mesh.directory / "other-to-mail.yaml").unlink()
    eventually(lambda: received(address) == b"", 20, what="other refused again", mesh=mesh)
    assert received(upstream(mesh, "client-0", "shop")) == greeting  # the allowed caller all along
