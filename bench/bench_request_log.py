"""What the request log (`smimesh tap`) costs a sidecar: nobody tapping, and tapping.

    .venv/bin/python -m bench.bench_request_log [--quick] [--results-dir DIR]

Three Envoys, identical but for the access log of their HTTP connection manager, each answering
every request itself (`direct_response`, so no backend's noise is in the figure):
- `none`:    no access log (smimesh before issue 15);
- `off`:     the JSON request log exactly as generated (`xds.access_log.request_log`), nobody tapping
             (the runtime key `smimesh.tap` unset: the filter says no);
- `tapping`: the same with the key set to 100 through the admin endpoint (a line per request to the
             log file), as while `smimesh tap` listens.
wrk (closed loop, 10 connections) loads them in turn, several rounds interleaved so the machine's
noise lands on all three; per variant: requests/s and the Envoy's CPU microseconds per request
(utime+stime / requests). Target: `off` costs within 5 % of `none` (CPU per request) — "costs
nothing when nobody taps".

Writes bench/results/request_log.json (request_log-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.json_format import MessageToDict

from bench import envelope
from bench.dataplane import loadgen, procs
from smimesh.local.binaries import find_envoy
from smimesh.testing.net import free_port
from smimesh.xds.access_log import OUTBOUND, TAP_RUNTIME_KEY, request_log

TARGET_OFF_OVER_NONE = 1.05
VARIANTS = ("none", "off", "tapping")
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)


def _config(port: int, admin: int, with_log: bool) -> dict[str, Any]:
    manager: dict[str, Any] = {
        "@type": HCM_TYPE,
        "stat_prefix": "bench",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
                        }
                    ],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
    }
    if with_log:
        manager["access_log"] = [MessageToDict(request_log(OUTBOUND), preserving_proto_field_name=True)]
    listener = {
        "name": "bench",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}]}
        ],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": [listener]},
        "layered_runtime": {"layers": [{"name": "admin", "admin_layer": {}}]},
    }


def _start(workdir: Path, name: str, with_log: bool) -> tuple[subprocess.Popen[bytes], int, int]:
    port, admin = free_port(), free_port()
    config = workdir / f"{name}.json"
    config.write_text(json.dumps(_config(port, admin, with_log)))
    command = [
        str(find_envoy()),
        "-c",
        str(config),
        "--concurrency",
        "1",
        "--use-dynamic-base-id",
        "--log-level",
        "error",
        "--file-flush-interval-msec",
        "200",
    ]
    process = procs.start(command, frozenset(procs.placement().proxies), workdir / f"{name}.log")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{admin}/ready", timeout=1).status_code == 200:
                return process, port, admin
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"envoy {name} did not start: {(workdir / f'{name}.log').read_text()[-2000:]}")


def _round(process: subprocess.Popen[bytes], port: int, seconds: float) -> dict[str, float]:
    before = procs.cpu_seconds(process.pid)
    result = loadgen.wrk_max(
        f"http://127.0.0.1:{port}/books", "web", seconds, 10, frozenset(procs.placement().load)
    )
    cpu = procs.cpu_seconds(process.pid) - before
    requests = max(1, result.get("requests", 0))
    return {"requests_per_s": result.get("requests_per_s", 0.0), "cpu_us_per_request": 1e6 * cpu / requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    envelope.add_results_dir(parser)
    args = parser.parse_args()
    started = envelope.Run("request_log", args.quick)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    rounds, seconds = (2, 2.0) if args.quick else (5, 5.0)
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="bench-request-log-") as tmp:
        workdir = Path(tmp)
        running = {v: _start(workdir, v, with_log=v != "none") for v in VARIANTS}
        try:
            httpx.post(
                f"http://127.0.0.1:{running['tapping'][2]}/runtime_modify", params={TAP_RUNTIME_KEY: "100"}
            )
            for _ in range(rounds):
                for variant in VARIANTS:
                    process, port, _ = running[variant]
                    samples[variant].append(_round(process, port, seconds))
            logged = (workdir / "tapping.log").read_text().count('"smimesh_request"')
            silent = (workdir / "off.log").read_text().count('"smimesh_request"')
        finally:
            for process, _, _ in running.values():
                procs.stop(process)
    figures = {
        v: {key: round(statistics.median(s[key] for s in samples[v]), 2) for key in samples[v][0]}
        for v in VARIANTS
    }
    ratio = figures["off"]["cpu_us_per_request"] / figures["none"]["cpu_us_per_request"]
    tapping = figures["tapping"]["cpu_us_per_request"] / figures["none"]["cpu_us_per_request"]
    out = {
        "variants": figures,
        "off_over_none_cpu": round(ratio, 3),
        "tapping_over_none_cpu": round(tapping, 3),
        "lines_logged_while_tapping": logged,
        "lines_logged_while_off": silent,
        "rounds": rounds,
    }
    met = None if args.quick else ratio <= TARGET_OFF_OVER_NONE
    found = [
        envelope.target(
            "request log off: CPU per request vs no log",
            f"<= {TARGET_OFF_OVER_NONE}x",
            round(ratio, 3),
            met,
            id="request_log_off_cost",
        )
    ]
    path = envelope.write(started, args.results_dir, out, found)
    print(
        f"request log, nobody tapping: {ratio:.3f}x the CPU per request of no log; tapping: {tapping:.3f}x; "
        f"lines written while off: {silent} -> {path}"
    )


if __name__ == "__main__":
    main()
