"""The caller's always-on denial log in a real Envoy: only the sidecar's own `unknown_host` 403 is logged.

The outbound request log (`access_log.request_log(OUTBOUND)`) writes a line for every request the
caller's sidecar denies itself, with no tap. Since issue 10 the route-name check (CEL, ~5k
instructions per request) runs only behind a status check: a 200 and an application's own 403 must
still not be logged, and the sidecar's denial must be. The listener's access log and the
`unknown_host` virtual host are the generators' own; the other routes answer directly so no
upstream is needed.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format

from smimesh.local.binaries import find_envoy
from smimesh.testing.net import free_port, wait_for_port
from smimesh.xds import access_log, names
from smimesh.xds.routes import unknown_host_vhost

pytestmark = pytest.mark.envoy

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def _answer(host: str, status: int, route: str) -> dict[str, Any]:
    direct = {"status": status, "body": {"inline_string": "app\n"}}
    return {
        "name": host,
        "domains": [host],
        "routes": [{"match": {"prefix": "/"}, "direct_response": direct, "name": route}],
    }


def _bootstrap(port: int, admin: int) -> dict[str, Any]:
    def as_dict(message: Any) -> dict[str, Any]:
        return json_format.MessageToDict(message, preserving_proto_field_name=True)

    vhosts = [
        _answer("ok.test", 200, "app"),
        _answer("forbidden.test", 403, "app"),
        as_dict(unknown_host_vhost()),
    ]
    manager = {
        "@type": HCM,
        "stat_prefix": names.OUTBOUND_HTTP_STAT_PREFIX,
        "route_config": {"name": names.OUTBOUND_HTTP_ROUTE, "virtual_hosts": vhosts},
        "http_filters": [{"name": names.ROUTER_FILTER, "typed_config": {"@type": ROUTER}}],
        "access_log": [as_dict(access_log.request_log(access_log.OUTBOUND))],
    }
    address = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    chain = {"filters": [{"name": names.HCM_FILTER, "typed_config": manager}]}
    listener = {"name": "outbound_http", "address": address, "filter_chains": [chain]}
    admin_address = {"socket_address": {"address": "127.0.0.1", "port_value": admin}}
    return {"admin": {"address": admin_address}, "static_resources": {"listeners": [listener]}}


def _request_lines(log: Path, expected: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """The request log lines in Envoy's output once `expected` are there (or what is there at the end)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [line for line in log.read_text().splitlines() if access_log.REQUEST_MARKER in line]
        if len(lines) >= expected or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.2)


def test_only_the_callers_own_denial_is_logged(tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(_bootstrap(port, admin)))
    log = tmp_path / "envoy.log"
    command = [str(find_envoy()), "-c", str(config), "--use-dynamic-base-id", "--concurrency", "1",
               "-l", "warning", "--file-flush-interval-msec", "200"]  # fmt: skip
    with open(log, "wb") as out:
        envoy = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=30)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            statuses = [
                client.get("/a", headers={"Host": host}).status_code for host in ("ok.test", "forbidden.test")
            ]
            denied = client.get("/nobody", headers={"Host": "nobody.test"})
        assert statuses == [200, 403]
        assert denied.status_code == 403 and "smimesh: access denied by the mesh" in denied.text
        _request_lines(log, expected=1)
        time.sleep(0.5)  # a wrongly logged 200 or application 403 would have been flushed with it
        lines = _request_lines(log, expected=1)
        assert [(line["authority"], line["status"], line["route"]) for line in lines] == [
            ("nobody.test", 403, names.UNKNOWN_HOST_ROUTE)
        ]
    finally:
        envoy.terminate()
        envoy.wait(10)


def test_the_route_name_is_checked_only_after_the_status() -> None:
    """The CEL expression sits behind the status compare in an `and_filter` (which stops at a miss)."""
    log = access_log.request_log(access_log.OUTBOUND)
    caller_denial = log.filter.or_filter.filters[1].and_filter.filters
    assert caller_denial[0].status_code_filter.comparison.value.default_value == names.UNKNOWN_HOST_STATUS
    assert caller_denial[1].extension_filter.name == access_log.CEL_FILTER
