"""End to end: Traffic Access Control and mTLS, with real Envoy sidecars and workloads under `smimesh up`.

One mesh for many checks (starting one costs seconds on a small machine): default deny, allow by
TrafficTarget, one path/method but not another, header match, two targets on one destination, a
TCPRoute port but not another, forged identity headers, plaintext refused, unknown service
accounts, key file modes, xDS impersonation, deleting a TrafficTarget, and `explain` agreeing.
"""

from __future__ import annotations

import asyncio
import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest

from smimesh.testing.access_e2e import (
    Mesh,
    echo,
    eventually,
    get,
    http_workload,
    inbound_address,
    mesh_certificate,
    rows,
    tcp_workload,
    write,
)
from smimesh.testing.ads_client import AdsClient
from smimesh.xds import type_urls

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

ACCESS = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: api, namespace: shop}
spec:
  matches:
  - {name: read, pathRegex: "/books", methods: [GET]}
  - {name: admin, pathRegex: "/admin", methods: ["*"], headers: {x-admin: "yes|true"}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: admin-to-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: shop}
  rules: [{kind: HTTPRouteGroup, name: api, matches: [admin]}]
  sources: [{kind: ServiceAccount, name: admin, namespace: shop}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: ghost-to-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: shop}
  rules: [{kind: HTTPRouteGroup, name: api}]
  sources: [{kind: ServiceAccount, name: ghost, namespace: shop}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: a-only, namespace: shop}
spec: {matches: {ports: [7000]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: client-to-db, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: db, namespace: shop}
  rules: [{kind: TCPRoute, name: a-only}]
  sources: [{kind: ServiceAccount, name: client, namespace: shop}]
"""
CLIENT_TO_WEB = """
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: client-to-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: shop}
  rules: [{kind: HTTPRouteGroup, name: api, matches: [read]}]
  sources: [{kind: ServiceAccount, name: client, namespace: shop}]
"""
WEB = "http://web.shop"
CLIENT_ID = "spiffe://cluster.local/ns/shop/sa/client"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    tmp = tmp_path_factory.mktemp("access")
    directory = tmp / "mesh"
    directory.mkdir()
    workloads = [http_workload(n) for n in ("web", "client", "other", "admin")]
    workloads += [tcp_workload("db-a", "db", 7000), tcp_workload("db-b", "db", 7001)]
    write(directory / "workloads.yaml", "\n---\n".join(workloads))
    write(directory / "access.yaml", ACCESS)
    write(directory / "client-to-web.yaml", CLIENT_TO_WEB)
    running = Mesh(directory, tmp / "run", tmp / "contexts.json").start()
    try:
        running.wait_ready(expected_instances=6)
        yield running
    finally:
        assert running.stop() == 0


def proxy(mesh: Mesh, workload: str) -> str:
    return mesh.proxy(f"{workload}-0")


def test_allow_by_target_one_path_and_method_but_not_another(mesh: Mesh) -> None:
    client = proxy(mesh, "client")
    assert get(client, f"{WEB}/books/1").status_code == 200
    denied = get(client, f"{WEB}/books/1", "POST")
    assert denied.status_code == 403 and "smimesh: access denied by the mesh" in denied.text
    assert get(client, f"{WEB}/cart").status_code == 403


def test_default_deny_for_a_workload_no_target_names(mesh: Mesh) -> None:
    """Its own sidecar answers (it has no config for web): 403 naming the mesh and the host, the
    denial in its request log (where telemetry counts it); an allowed caller still reaches web."""
    denied = get(proxy(mesh, "other"), f"{WEB}/books/1")
    assert denied.status_code == 403
    assert "smimesh: access denied by the mesh at this workload's sidecar" in denied.text
    assert "no TrafficTarget lets its identity call web.shop " in denied.text
    assert get(proxy(mesh, "client"), f"{WEB}/books/1").status_code == 200
    log = mesh.run_dir / "logs" / "shop" / "other-0.envoy.log"

    def logged() -> bool:
        lines = [
            json.loads(x) for x in log.read_text(errors="replace").splitlines() if '"smimesh_request"' in x
        ]
        return any(
            (x["route"], x["status"], x["authority"]) == ("unknown_host", 403, "web.shop") for x in lines
        )

    eventually(logged, 10, what="the denial in the caller's request log", mesh=mesh)


def test_header_match_and_two_targets_on_one_destination(mesh: Mesh) -> None:
    admin = proxy(mesh, "admin")
    assert get(admin, f"{WEB}/admin", "DELETE", {"x-admin": "yes"}).status_code == 200
    assert get(admin, f"{WEB}/admin", headers={"x-admin": "yes please"}).status_code == 403  # full match
    assert get(admin, f"{WEB}/admin").status_code == 403  # a missing header never matches
    assert get(admin, f"{WEB}/books/1").status_code == 403  # admin's target allows only the admin match
    assert get(proxy(mesh, "client"), f"{WEB}/admin", headers={"x-admin": "yes"}).status_code == 403


def test_tcp_route_allows_one_port_and_not_another(mesh: Mesh) -> None:
    upstreams = rows(mesh)["client-0"]["tcp_upstreams"]
    assert echo(upstreams["db-a.shop:7000"]) == "db-a-0 hello"
    assert echo(upstreams["db-b.shop:7001"]) == ""  # same identity, port not in the TCPRoute: closed
    assert echo(rows(mesh)["other-0"]["tcp_upstreams"]["db-a.shop:7000"]) == ""


def test_forged_identity_headers_are_judged_by_the_certificate(mesh: Mesh) -> None:
    forged = {
        "x-forwarded-client-cert": "By=spiffe://cluster.local/ns/shop/sa/web;URI=spiffe://cluster.local/ns/shop/sa/client",
        "x-client-identity": "spiffe://cluster.local/ns/shop/sa/client",
    }
    assert get(proxy(mesh, "other"), f"{WEB}/books/1", headers=forged).status_code == 403


def test_a_forged_client_cert_header_over_mtls_changes_nothing_and_never_reaches_the_app(
    mesh: Mesh, tmp_path: Path
) -> None:
    """Straight to web's inbound port with real mesh certificates: its per-match routes admit a caller
    by the `x-forwarded-client-cert` the sidecar sets from the verified certificate, so a header the
    caller sends naming another identity is replaced, not believed, and the app never sees one."""
    address = inbound_address(mesh, "web-0")
    claims = {"x-forwarded-client-cert": "By=spiffe://cluster.local/ns/shop/sa/web;URI=" + CLIENT_ID}
    with httpx.Client(verify=mesh_certificate(mesh, "other", tmp_path), timeout=5) as other:
        denied = other.get(f"https://{address}/books/1", headers=claims)
    assert denied.status_code == 403 and "smimesh: access denied by the mesh" in denied.text
    with httpx.Client(verify=mesh_certificate(mesh, "client", tmp_path), timeout=5) as client:
        allowed = client.get(f"https://{address}/books/1", headers={"x-forwarded-client-cert": "URI=x"})
    assert allowed.status_code == 200 and allowed.json()["pod"] == "web-0"
    assert "x_forwarded_client_cert" not in allowed.json()


def test_plaintext_to_a_strict_inbound_listener_is_refused(mesh: Mesh) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://{inbound_address(mesh, 'web-0')}/books/1", timeout=5)


def test_key_files_are_private_and_no_leaf_key_is_on_disk(mesh: Mesh) -> None:
    run = mesh.run_dir
    root_key = run / "ca" / "root-key.pem"
    assert stat.S_IMODE(root_key.stat().st_mode) == 0o600
    for path in (run / "bootstrap").rglob("*.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    holders = [p for p in run.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    assert holders == [root_key]


def test_xds_refuses_another_nodes_id_and_another_identitys_secret(mesh: Mesh) -> None:
    xds = mesh.status()["xds"]
    web_secret = "identity:spiffe://cluster.local/ns/shop/sa/web"

    async def attempt() -> tuple[grpc.StatusCode | None, set[str]]:
        client = AdsClient("web-0.shop", address=xds)  # no credential: an impostor
        try:
            await client.connect()
            await client.subscribe(type_urls.SECRET, [web_secret])
            await client.wait_for(
                lambda c: c.closed_with is not None or bool(c.state(type_urls.SECRET).resources), 5
            )
            return client.closed_with, set(client.state(type_urls.SECRET).resources)
        finally:
            await client.close()

    status, received = asyncio.run(attempt())
    assert status is grpc.StatusCode.PERMISSION_DENIED and received == set()
    assert "refused a stream" in mesh.output() or mesh.status()["security"]["xds_refusals"] >= 1


def test_status_shows_modes_and_certificate_expiry(mesh: Mesh) -> None:
    security = mesh.status()["security"]
    assert {n["namespace"]: (n["traffic_policy"], n["mtls"], n["audit"]) for n in security["namespaces"]} == {
        "shop": ("smi", "strict", False)
    }
    identities = {c["identity"]: c for c in security["certificates"]}
    assert set(identities) == {
        f"spiffe://cluster.local/ns/shop/sa/{sa}" for sa in ("web", "client", "other", "admin", "db")
    }
    assert all(c["expires_in_s"] > 0 for c in identities.values())


def test_explain_agrees_with_the_sidecars(mesh: Mesh) -> None:
    cases = [
        ("client", "GET", "/books/1", {}),
        ("client", "POST", "/books/1", {}),
        ("other", "GET", "/books", {}),
        ("admin", "PUT", "/admin", {"x-admin": "true"}),
        ("admin", "GET", "/admin", {"x-admin": "no"}),
    ]
    for workload, method, path, headers in cases:
        command = [
            sys.executable,
            "-m",
            "smimesh",
            "explain",
            "-f",
            str(mesh.directory),
            "--from",
            workload,
            "--to",
            "web.shop",
            method,
            path,
            "-o",
            "json",
        ]
        command += [arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")]
        verdict = json.loads(subprocess.run(command, capture_output=True, text=True, timeout=60).stdout)[
            "allowed"
        ]
        status = get(proxy(mesh, workload), f"{WEB}{path}", method, headers).status_code
        assert (status == 200) is verdict, (workload, method, path, headers, status, verdict)


def test_deleting_a_traffic_target_denies_again_quickly(mesh: Mesh) -> None:
    client = proxy(mesh, "client")
    assert get(client, f"{WEB}/books/1").status_code == 200
    started = time.monotonic()
    (mesh.directory / "client-to-web.yaml").unlink()
    eventually(lambda: get(client, f"{WEB}/books/1").status_code == 403, 10, what="denied again", mesh=mesh)
    print(f"denied again {time.monotonic() - started:.2f}s after the TrafficTarget was deleted")
    write(mesh.directory / "client-to-web.yaml", CLIENT_TO_WEB)
    eventually(lambda: get(client, f"{WEB}/books/1").status_code == 200, 10, what="allowed again", mesh=mesh)


def test_explain_live_reads_the_destination_sidecars(mesh: Mesh) -> None:
    command = [
        sys.executable,
        "-m",
        "smimesh",
        "explain",
        "-f",
        str(mesh.directory),
        "--from",
        "client",
        "--to",
        "web.shop",
        "GET",
        "/books/1",
        "--live",
        "--api-addr",
        mesh.api,
        "-o",
        "json",
    ]
    answer = json.loads(
        subprocess.run(command, capture_output=True, text=True, timeout=60, env=mesh.env).stdout
    )
    (row,) = answer["live"]
    assert row["instance"] == "web-0" and row["agrees"], row
    assert "TrafficTarget/shop/client-to-web" in row["enforced_policies"]
    assert row["counters"]["allowed"] >= 1
