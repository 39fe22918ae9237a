"""The client commands (apply, get, delete, proxy-status, proxy-config) against a real API server.

The server runs in a thread with its own loop (`ThreadedApiServer`) on a free loopback port; the
commands run through click's CliRunner, and once as a real subprocess. The token is found the way
a user's CLI finds it: through the per-user context file `smimesh up` registers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from smimesh.api.app import create_app
from smimesh.api.auth import register_context, write_token
from smimesh.api.serve import ThreadedApiServer
from smimesh.cli.main import cli
from smimesh.local.binaries import find_envoy
from smimesh.resources import load_text
from smimesh.server.hooks import Push, StreamInfo
from smimesh.server.sync import SyncState
from smimesh.sources.store import ResourceStore
from smimesh.testing.net import free_port, wait_until
from smimesh.xds import type_urls

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: bookstore, namespace: shop}
spec: {selector: {app: bookstore}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v1, namespace: shop}
spec: {selector: {app: bookstore, version: v1}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v2, namespace: shop}
spec: {selector: {app: bookstore, version: v2}, ports: [{name: http, port: 80}]}
"""


def split(name: str = "canary", v1: int = 90, v2: int = 10) -> str:
    return textwrap.dedent(f"""\
        apiVersion: split.smi-spec.io/v1alpha4
        kind: TrafficSplit
        metadata: {{name: {name}, namespace: shop}}
        spec:
          service: bookstore
          backends:
          - service: bookstore-v1
            weight: {v1}
          - service: bookstore-v2
            weight: {v2}
        """)


def sync_state() -> SyncState:
    """A real SyncState driven through its server hooks: one proxy in sync, one that NACKed."""
    state = SyncState()
    good, bad = StreamInfo(1, "buyer-0.shop", "sotw"), StreamInfo(2, "thief-0.shop", "delta")
    for stream in (good, bad):
        state.on_stream_open(stream)
        state.on_response(stream, Push(type_urls.CLUSTER, "v1", "n1", 3))
    state.on_ack(good, type_urls.CLUSTER, "v1")
    state.on_nack(bad, type_urls.CLUSTER, "v1", "Proto constraint validation failed: cluster name empty")
    return state


class World:
    def __init__(self, server: ThreadedApiServer, store: ResourceStore) -> None:
        self.server, self.store = server, store
        self.admin: dict[str, str] = {}

    def run(self, *args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(cli, [*args, "--api-addr", self.server.addr], input=stdin)

    def names(self) -> set[str]:
        return {str(s.key) for s in self.store.items()}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("SMIMESH_CONTEXT_FILE", str(tmp_path / "contexts.json"))
    monkeypatch.delenv("SMIMESH_TOKEN", raising=False)
    monkeypatch.delenv("SMIMESH_API_ADDR", raising=False)
    run_dir = tmp_path / "run"
    token = write_token(run_dir)
    store = ResourceStore()
    admin: dict[str, str] = {}

    async def make_app() -> object:
        await store.replace_origin("/mesh/services.yaml", load_text(SERVICES, "/mesh/services.yaml").objects)
        return create_app(store, token=token, sync_state=sync_state(), proxy_admin=admin.get)

    with ThreadedApiServer(make_app) as server:
        register_context(server.addr, run_dir)
        found = World(server, store)
        found.admin = admin
        yield found


def test_apply_file_dir_and_stdin(world: World, tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(split("one"))
    result = world.run("apply", "-f", str(tmp_path / "one.yaml"))
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip() == "TrafficSplit shop/one created"
    manifests = tmp_path / "dir"
    manifests.mkdir()
    (manifests / "a.yaml").write_text(split("a"))
    (manifests / "b.json").write_text(json.dumps(yaml.safe_load(split("b"))))
    (manifests / ".hidden.yaml").write_text(split("hidden"))
    assert world.run("apply", "-f", str(manifests)).exit_code == 0
    result = world.run("apply", "-f", "-", stdin=split("one", 50, 50))
    assert result.stdout.strip() == "TrafficSplit shop/one configured"
    splits = {name for name in world.names() if name.startswith("TrafficSplit")}
    assert splits == {"TrafficSplit/shop/one", "TrafficSplit/shop/a", "TrafficSplit/shop/b"}


def test_apply_invalid_file_names_the_users_file_and_line_and_stores_nothing(
    world: World, tmp_path: Path
) -> None:
    (tmp_path / "good.yaml").write_text(split("good"))
    (tmp_path / "bad.yaml").write_text(split("bad", v1=-1))
    result = world.run("apply", "-f", str(tmp_path / "good.yaml"), "-f", str(tmp_path / "bad.yaml"))
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    assert str(tmp_path / "bad.yaml") in result.stderr
    assert "line 8:" in result.stderr, result.stderr  # the weight line in bad.yaml, not in the combined text
    assert "nothing was applied" in result.stderr
    assert not any("good" in name for name in world.names())


def test_get_table_yaml_json_wide(world: World) -> None:
    world.run("apply", "-f", "-", stdin=split("canary"))
    table = world.run("get", "ts")
    assert table.exit_code == 0
    assert "canary" in table.stdout and "api" in table.stdout
    wide = world.run("get", "all", "-o", "wide")
    assert "bookstore → bookstore-v1:90, bookstore-v2:10" in wide.stdout
    assert "/mesh/services.yaml" in wide.stdout
    document = yaml.safe_load(world.run("get", "trafficsplits", "canary", "-n", "shop", "-o", "yaml").stdout)
    assert document["spec"]["backends"][1] == {"service": "bookstore-v2", "weight": 10}
    listing = json.loads(world.run("get", "svc", "-o", "json").stdout)
    assert listing["kind"] == "List" and len(listing["items"]) == 3
    unknown = world.run("get", "frobs")
    assert unknown.exit_code == 1 and "unknown kind 'frobs'" in unknown.stderr


def test_delete_api_object_and_refusal_for_file_object(world: World) -> None:
    world.run("apply", "-f", "-", stdin=split("canary"))
    result = world.run("delete", "ts", "canary")
    assert result.exit_code == 0 and result.stdout.strip() == "TrafficSplit shop/canary deleted"
    assert "TrafficSplit/shop/canary" not in world.names()
    refused = world.run("delete", "service", "bookstore", "-n", "shop")
    assert refused.exit_code == 1
    assert "SM7101" in refused.stderr and "/mesh/services.yaml" in refused.stderr
    missing = world.run("delete", "ts", "nothing")
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_wrong_token_is_refused(world: World) -> None:
    result = world.run("apply", "-f", "-", "--token", "not-it", stdin=split())
    assert result.exit_code == 1 and "wrong API token" in result.stderr


def test_proxy_status_table_and_json(world: World) -> None:
    result = world.run("proxy-status")
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if line.strip()]
    lines = {line.split()[0]: line for line in rows if line.split()[0].endswith(".shop")}
    assert "SYNCED" in lines["buyer-0.shop"] and "NACKED" in lines["thief-0.shop"]
    assert "cluster name empty" in result.stdout
    rows = json.loads(world.run("proxy-status", "-o", "json").stdout)["proxies"]
    assert {row["node_id"]: row["status"] for row in rows} == {
        "buyer-0.shop": "SYNCED",
        "thief-0.shop": "NACKED",
    }


def test_no_control_plane_is_one_clear_line() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["get", "ts", "--api-addr", address])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: no control plane at {address} — start one with `smimesh up DIR`"


def test_no_control_plane_as_a_real_process() -> None:
    address = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "smimesh", "proxy-status", "--api-addr", address],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: no control plane at {address} — start one with `smimesh up DIR`"
    ]


ENVOY_CONFIG = """\
admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}}}
static_resources:
  clusters:
  - name: backend-cluster
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend-cluster
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {backend}}}}}}}
  listeners:
  - name: outbound-listener
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listener}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: out
          cluster: backend-cluster
"""


@pytest.fixture
def envoy_admin(tmp_path: Path) -> Iterator[str]:
    admin = free_port()
    config = ENVOY_CONFIG.format(admin=admin, backend=free_port(), listener=free_port())
    log = (tmp_path / "envoy.log").open("w")
    process = subprocess.Popen(
        [str(find_envoy()), "--config-yaml", config, "--use-dynamic-base-id", "-l", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: _ready(admin), timeout=60, what="envoy admin ready")
        yield f"127.0.0.1:{admin}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _ready(admin: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{admin}/ready", timeout=1, trust_env=False).status_code == 200
    except httpx.HTTPError:
        time.sleep(0.05)
        return False


@pytest.mark.envoy
def test_proxy_config_reads_the_sidecars_envoy(world: World, envoy_admin: str) -> None:
    world.admin["buyer"] = envoy_admin
    clusters = world.run("proxy-config", "buyer", "--type", "clusters")
    assert clusters.exit_code == 0, clusters.stderr
    assert "backend-cluster" in clusters.stdout and "outbound-listener" not in clusters.stdout
    listeners = world.run("proxy-config", "buyer", "--type", "listeners")
    assert "outbound-listener" in listeners.stdout
    dump = json.loads(world.run("proxy-config", "buyer", "-o", "json").stdout)
    types = {section["@type"].rsplit(".", 1)[-1] for section in dump["configs"]}
    assert {"BootstrapConfigDump", "ClustersConfigDump", "ListenersConfigDump"} <= types
    unknown = world.run("proxy-config", "nobody")
    assert unknown.exit_code == 1 and "no sidecar named 'nobody'" in unknown.stderr


def test_apply_of_a_file_owned_object_points_at_the_owning_file(world: World, tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(SERVICES)
    result = world.run("apply", "-f", str(tmp_path / "mine.yaml"))
    assert result.exit_code == 1
    assert result.stderr.startswith("/mesh/services.yaml"), result.stderr
    assert str(tmp_path / "mine.yaml") not in result.stderr
    assert "SM7101" in result.stderr and "nothing was applied" in result.stderr


def test_a_name_in_two_namespaces_needs_n(world: World) -> None:
    world.run("apply", "-f", "-", stdin=split("twin"))
    world.run("apply", "-f", "-", stdin=split("twin").replace("namespace: shop", "namespace: other"))
    ambiguous = world.run("get", "ts", "twin")
    assert ambiguous.exit_code == 1
    assert "several namespaces (other, shop)" in ambiguous.stderr and "-n NS" in ambiguous.stderr
    assert world.run("get", "ts", "twin", "-n", "other").exit_code == 0


@pytest.mark.parametrize("name", ["apply", "get", "delete", "proxy-status", "proxy-config"])
def test_help_has_examples(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0 and "Examples:" in result.stdout and "--api-addr" in result.stdout
