"""Egress end to end: OSM Egress policy and the mesh-wide switch, with real Envoy sidecars.

"External" servers run in this test process on other loopback addresses (127.0.0.2, 127.0.0.3),
never a real host. Requests leave through the client workload's sidecar (its HTTP_PROXY), the way a
workload's own requests do.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.testing import manifests, workloads
from smimesh.testing.net import free_port
from smimesh.testing.up import Mesh, eventually, write

NOT_IN_MESH = "(or it is not a mesh service, or no instance of it runs)"  # the caller-side 403

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

PY, SERVE = sys.executable, str(workloads.HERE)
OSM_MESH_CONFIG = """
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  sidecar: {logLevel: error}
  traffic: {enableEgress: true, enablePermissiveTrafficPolicyMode: false}
  certificate: {serviceCertValidityDuration: 24h}
"""


class _External(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"external": self.server.server_address[0], "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def external() -> Iterator[dict[str, int]]:
    """One "external" HTTP server on each of 127.0.0.1, 127.0.0.2 and 127.0.0.3 (port by address)."""
    servers = []
    for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        server = ThreadingHTTPServer((host, free_port(host)), _External)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield {str(s.server_address[0]): int(s.server_address[1]) for s in servers}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _world(directory: Path, external: dict[str, int]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    relay = "http://127.0.0.1:{}/".format(external["127.0.0.1"])
    write(
        directory / "mesh.yaml",
        manifests.documents(
            manifests.idle_client("shop"),
            manifests.server("relay", "shop", env={"UPSTREAM_URL": relay}),
            manifests.server(
                "relay-controlled",
                "shop",
                account="relay",
                env={"UPSTREAM_URL": relay, "NO_PROXY": "", "no_proxy": ""},
            ),
            manifests.service("relay", "shop"),
            manifests.service("relay-controlled", "shop"),
            manifests.everything("shop"),
            manifests.allow("client-to-relay", "shop", "relay"),
        )
        + f"""---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: external-api, namespace: shop}}
spec:
  matches: [{{name: allowed, pathRegex: /allowed, methods: [GET]}}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {{name: external-api, namespace: shop}}
spec:
  sources: [{{kind: ServiceAccount, name: client, namespace: shop}}]
  hosts: [127.0.0.2]
  ports: [{{number: {external["127.0.0.2"]}, protocol: http}}]
  matches: [{{apiGroup: specs.smi-spec.io/v1alpha4, kind: HTTPRouteGroup, name: external-api}}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {{name: any-localhost, namespace: shop}}
spec:
  sources: [{{kind: ServiceAccount, name: client, namespace: shop}}]
  hosts: ["*.localhost"]
  ports: [{{number: {external["127.0.0.1"]}, protocol: http}}]
""",
    )


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, external: dict[str, int]) -> Iterator[tuple[Mesh, Path]]:
    root = tmp_path_factory.mktemp("egress")
    _world(root / "mesh", external)
    config = root / "mesh-config.yaml"
    write(config, "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec: {}\n")
    up = Mesh(
        root / "mesh", root / "run", root / "contexts.json", extra_args=["--mesh-config", str(config)]
    ).start()
    try:
        up.wait_ready(expected_instances=3, timeout=120)
        yield up, config
    finally:
        up.stop()


def _get(up: Mesh, url: str) -> httpx.Response:
    with httpx.Client(proxy=up.proxy("client-0"), timeout=10) as client:
        return client.get(url)


def test_egress_policy_allows_the_named_host_and_paths_only_and_the_switch_opens_it_live(
    mesh: tuple[Mesh, Path], external: dict[str, int]
) -> None:
    up, config = mesh
    allowed, other = (f"http://{h}:{external[h]}" for h in ("127.0.0.2", "127.0.0.3"))
    answer = _get(up, allowed + "/allowed?x=1")
    assert answer.status_code == 200 and answer.json() == {"external": "127.0.0.2", "path": "/allowed?x=1"}
    denied = _get(up, allowed + "/secret")
    assert denied.status_code == 403 and "Egress/shop/external-api does not allow" in denied.text
    refused = _get(up, other + "/")
    assert refused.status_code == 403 and NOT_IN_MESH in refused.text

    write(
        config,
        "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec: {egress: open}\n",
    )
    eventually(lambda: _get(up, other + "/").status_code == 200, 30, what="egress open", mesh=up)
    assert _get(up, other + "/x").json() == {"external": "127.0.0.3", "path": "/x"}
    assert _get(up, allowed + "/secret").status_code == 403  # an Egress's matches still narrow its host
    write(
        config,
        "apiVersion: smimesh.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nspec: {egress: policy}\n",
    )
    eventually(lambda: _get(up, other + "/").status_code == 403, 30, what="egress by policy again", mesh=up)
    # OSM's MeshConfig is accepted too: enableEgress maps to egress open, unmapped fields are listed
    write(config, OSM_MESH_CONFIG)
    eventually(lambda: _get(up, other + "/").status_code == 200, 30, what="egress open (OSM)", mesh=up)
    assert "SM6102" in up.output() and "sidecar.logLevel" in up.output()
    assert "egress policy -> open" in up.output()
    write(config, OSM_MESH_CONFIG.replace("enableEgress: true", "enableEgress: false"))
    eventually(lambda: _get(up, other + "/").status_code == 403, 30, what="egress by policy (OSM)", mesh=up)


def test_a_wildcard_host_is_resolved_by_name_and_only_its_subdomains_pass(
    mesh: tuple[Mesh, Path], external: dict[str, int]
) -> None:
    up, _ = mesh
    port = external["127.0.0.1"]
    # *.localhost: the sidecar's forward proxy resolves the name (RFC 6761: a name under localhost is
    # loopback), so the request reaches the "external" server on 127.0.0.1
    answer = _get(up, f"http://api.localhost:{port}/w")
    assert answer.status_code == 200 and answer.json() == {"external": "127.0.0.1", "path": "/w"}
    for url in (f"http://localhost:{port}/", f"http://api.localhost.example:{port}/"):
        refused = _get(up, url)  # the suffix alone, or a name that only starts like it
        assert refused.status_code == 403 and NOT_IN_MESH in refused.text, url


def test_loopback_bypasses_the_sidecar_unless_the_workload_opts_out_of_no_proxy(
    mesh: tuple[Mesh, Path],
) -> None:
    up, _ = mesh
    # relay calls the "external" server on 127.0.0.1: NO_PROXY sends it around its sidecar, outside policy
    direct = _get(up, "http://relay.shop/")
    assert direct.status_code == 200 and direct.json()["upstream"]["external"] == "127.0.0.1"
    # relay-controlled cleared NO_PROXY: the call goes through its sidecar, and no Egress allows it
    controlled = _get(up, "http://relay-controlled.shop/")
    assert controlled.status_code == 502, controlled.text
    assert NOT_IN_MESH in str(controlled.json()["upstream"])
