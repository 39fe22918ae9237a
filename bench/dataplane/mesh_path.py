"""Paths (c) and (d): the backend behind two smimesh sidecars, run by `smimesh up` on a generated directory.

The hook: `mesh_path(where, work, split=False)` writes a directory of manifests (an idle `client`
workload, the benchmark backend as workload `web` — or `web-v1`/`web-v2` behind a TrafficSplit of
`web` — and a TrafficTarget allowing client -> web), runs `smimesh up` on it, waits until every
sidecar is SYNCED, pins the sidecars to the proxies' CPUs and yields a `Target` aimed at the client
sidecar's outbound listener (its HTTP_PROXY) with `Host: web.bench`, exactly what the client workload
would send. What the sidecars really carry (mTLS, RBAC, stats) is read from their /config_dump, not
assumed, and recorded in `had`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.dataplane import procs
from bench.dataplane.carried import what_proxies_carry
from bench.dataplane.paths import BACKEND_SCRIPT, PathUnavailable, Target
from smimesh.testing.net import free_port

READY_TIMEOUT_S = 60.0
IDLE = "import signal; signal.pause()"


def _workload(name: str, app: str, command: list[str], labels: str = "", port: bool = True) -> str:
    ports = "\n  ports: [{name: http, containerPort: 8080}]" if port else ""
    return f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: bench, labels: {{app: {app}{labels}}}}}
spec:
  serviceAccount: {app}
  command: {command!r}{ports}
---
"""


def _service(name: str, selector: str) -> str:
    return f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: bench}}
spec:
  selector: {{{selector}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
"""


ACCESS = """apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: everything, namespace: bench}
spec:
  matches: [{name: all, pathRegex: ".*", methods: ["*"]}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: client-to-web, namespace: bench}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: bench}
  rules: [{kind: HTTPRouteGroup, name: everything, matches: [all]}]
  sources: [{kind: ServiceAccount, name: client, namespace: bench}]
"""

SPLIT = """---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: web, namespace: bench}
spec:
  service: web
  backends:
  - {service: web-v1, weight: 50}
  - {service: web-v2, weight: 50}
"""


def manifests(split: bool) -> str:
    """The whole mesh as one YAML stream (client, backend(s), services, access, optional split)."""
    backend = [sys.executable, str(BACKEND_SCRIPT)]
    text = _workload("client", "client", [sys.executable, "-c", IDLE], port=False)
    if not split:
        return text + _workload("web", "web", backend) + _service("web", "app: web") + ACCESS
    for version in ("v1", "v2"):
        text += _workload(f"web-{version}", "web", backend, labels=f", version: {version}")
        text += _service(f"web-{version}", f"app: web, version: {version}")
    return text + _service("web", "app: web") + ACCESS + SPLIT


class MeshUp:
    """`smimesh up DIR` as a child process and the status its API reports."""

    def __init__(self, directory: Path, run_dir: Path, where: procs.Placement) -> None:
        self.api = f"127.0.0.1:{free_port()}"
        command = [
            sys.executable,
            "-m",
            "smimesh",
            "up",
            str(directory),
            "--api-addr",
            self.api,
            "--run-dir",
            str(run_dir),
        ]
        env = {**os.environ, "SMIMESH_CONTEXT_FILE": str(run_dir.parent / "contexts.json")}
        self.log = run_dir.parent / "smimesh-up.log"
        self.process = procs.start(command, where.load, self.log, env=env)

    def instances(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"http://{self.api}/api/v1/status", timeout=5)
        answer.raise_for_status()
        return list(answer.json()["instances"])

    def wait_ready(self, expected: int) -> list[dict[str, Any]]:
        deadline, last = time.monotonic() + READY_TIMEOUT_S, "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PathUnavailable(f"smimesh up exited {self.process.returncode}: {self._tail()}")
            try:
                rows = self.instances()
            except httpx.HTTPError as error:
                last = repr(error)
            else:
                good = [r for r in rows if r["state"] == "running" and r["sync"] == "SYNCED"]
                if len(good) == len(rows) == expected:
                    return rows
                last = f"{len(good)}/{expected} running and SYNCED"
            time.sleep(0.3)
        raise PathUnavailable(f"mesh not ready after {READY_TIMEOUT_S}s ({last}): {self._tail()}")

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-1500:]


def _probe(port: int, timeout_s: float = 15.0) -> None:
    """Until one request through the client sidecar gets 200 (secrets may land just after SYNCED)."""
    deadline, last = time.monotonic() + timeout_s, "no answer"
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                answer = client.get(f"http://127.0.0.1:{port}/", headers={"Host": "web.bench"})
            except httpx.HTTPError as error:
                last = repr(error)
            else:
                if answer.status_code == 200:
                    return
                last = f"status {answer.status_code}: {answer.text[:200]}"
            time.sleep(0.2)
    raise PathUnavailable(f"no 200 through the client sidecar after {timeout_s}s ({last})")


@contextmanager
def mesh_path(where: procs.Placement, work: Path, *, split: bool = False) -> Iterator[Target]:
    directory = work / ("mesh-split" if split else "mesh")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mesh.yaml").write_text(manifests(split))
    mesh = MeshUp(directory, work / f"run-{directory.name}", where)
    try:
        yield _target(mesh, where, split)
    finally:
        procs.stop(mesh.process, timeout=20)


def _target(mesh: MeshUp, where: procs.Placement, split: bool) -> Target:
    rows = mesh.wait_ready(expected=3 if split else 2)
    client = next(r for r in rows if r["workload"] == "client")
    servers = [r for r in rows if r["workload"] != "client"]
    for row in rows:
        procs.pin_all_threads(row["sidecar"]["pid"], where.proxies)
        procs.pin_all_threads(row["pid"], where.backend)
    port = int(client["http_proxy"].rsplit(":", 1)[1])
    _probe(port)
    proxies = {"client": client["sidecar"]["pid"]}
    proxies |= {f"server:{r['workload']}": r["sidecar"]["pid"] for r in servers}
    had = what_proxies_carry(client["admin"], [r["admin"] for r in servers])
    had |= {"stats": "as generated by smimesh", "config": "generated by smimesh over ADS (smimesh up)"}
    return Target("smimesh-split" if split else "smimesh", "127.0.0.1", port, "web.bench", proxies, had)
