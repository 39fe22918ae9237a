"""The `smimesh up` test kit: a real mesh process, its sidecars and workloads, for end-to-end tests.

Runs `smimesh up` the way a user does — a real process on a directory of manifests, with real
Envoy sidecars and real workload processes on loopback — and reads what the mesh reports through
its HTTP API. Traffic is sent through a client instance's sidecar (its HTTP_PROXY port), so every
request crosses two Envoys exactly as the workload's own requests do. Owns `Mesh` (start, API
reads, stop), the manifest builders (`backend`, `split`, `make_shop`, `CALLER`/`ACCESS`), traffic
helpers (`send`, `Traffic`, `chi_square_p`) and `eventually`, the polling wait every e2e test uses.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from smimesh.testing import workloads
from smimesh.testing.net import free_port

WORKLOAD = str(workloads.HERE)

# A caller workload in namespace shop and the TrafficTarget that lets it call every route of `web`.
CALLER = f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: caller, namespace: shop, labels: {{app: caller}}}}
spec:
  serviceAccount: caller
  command: [{sys.executable}, {WORKLOAD}, serve]
  ports: [{{name: http, containerPort: 8080}}]
"""
ACCESS = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: everything, namespace: shop}
spec:
  matches: [{name: all, pathRegex: ".*", methods: ["*"]}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: caller-to-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: shop}
  rules: [{kind: HTTPRouteGroup, name: everything, matches: [all]}]
  sources: [{kind: ServiceAccount, name: caller, namespace: shop}]
"""

METRICS_PREFIX = "/apis/metrics.smi-spec.io/v1alpha1"  # the SMI metrics API that `smimesh up` serves


def write(path: Path, text: str) -> None:
    """Replace `path` atomically, like an editor that saves by rename."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(textwrap.dedent(text))
    os.replace(temporary, path)


def metric_counts(item: dict[str, Any]) -> tuple[str, str]:
    """(success_count, failure_count) of one item of the SMI metrics API."""
    values = {m["name"]: m["value"] for m in item["metrics"]}
    return values["success_count"], values["failure_count"]


def backend(name: str, version: str, replicas: int = 1, app: str = "web") -> str:
    return f"""
    apiVersion: smimesh.io/v1alpha1
    kind: Workload
    metadata: {{name: {name}, namespace: shop, labels: {{app: {app}, version: {version}}}}}
    spec:
      serviceAccount: {app}
      replicas: {replicas}
      command: [{sys.executable}, {WORKLOAD}, serve]
      env: {{VERSION: {version}}}
      ports: [{{name: http, containerPort: 8080}}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {{name: {name}, namespace: shop}}
    spec:
      selector: {{app: {app}, version: {version}}}
      ports: [{{name: http, port: 80, targetPort: http}}]
    """


def split(v1: int, v2: int) -> str:
    return f"""
    apiVersion: split.smi-spec.io/v1alpha4
    kind: TrafficSplit
    metadata: {{name: web, namespace: shop}}
    spec:
      service: web
      backends:
      - {{service: web-v1, weight: {v1}}}
      - {{service: web-v2, weight: {v2}}}
    """


def make_shop(directory: Path, v1: int = 80, v2: int = 20) -> None:
    """A client workload and two backends behind a TrafficSplit (`web` -> web-v1 / web-v2), client allowed."""
    directory.mkdir(parents=True, exist_ok=True)
    write(
        directory / "client.yaml",
        f"""
    apiVersion: smimesh.io/v1alpha1
    kind: Workload
    metadata: {{name: client, namespace: shop, labels: {{app: client}}}}
    spec:
      serviceAccount: client
      command: [{sys.executable}, {WORKLOAD}, client, "http://web.shop/",
                --rate, "2", --stats, client-stats.out]
    """,
    )
    write(
        directory / "web.yaml",
        """
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec:
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: http}]
    """,
    )
    write(directory / "web-v1.yaml", backend("web-v1", "v1"))
    write(directory / "web-v2.yaml", backend("web-v2", "v2"))
    write(directory / "split.yaml", split(v1, v2))
    write(
        directory / "access.yaml",
        """
    apiVersion: specs.smi-spec.io/v1alpha4
    kind: HTTPRouteGroup
    metadata: {name: everything, namespace: shop}
    spec:
      matches: [{name: all, pathRegex: ".*", methods: ["*"]}]
    ---
    apiVersion: access.smi-spec.io/v1alpha3
    kind: TrafficTarget
    metadata: {name: client-to-web, namespace: shop}
    spec:
      destination: {kind: ServiceAccount, name: web, namespace: shop}
      rules: [{kind: HTTPRouteGroup, name: everything, matches: [all]}]
      sources: [{kind: ServiceAccount, name: client, namespace: shop}]
    """,
    )


def chi_square_p(observed: list[int], weights: list[float]) -> float:
    """p-value of Pearson's chi-square test with len-1 degrees of freedom (1 or 2 supported exactly)."""
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    freedom = sum(1 for e in expected if e > 0) - 1
    if freedom == 1:
        return math.erfc(math.sqrt(statistic / 2))
    if freedom == 2:
        return math.exp(-statistic / 2)
    raise ValueError("only 2 or 3 categories")


class Mesh:
    """`smimesh up DIR` as a child process, and what it reports."""

    def __init__(
        self, directory: Path, run_dir: Path, context_file: Path, extra_args: Sequence[str] = ()
    ) -> None:
        self.directory, self.run_dir = directory, run_dir
        self.extra_args = list(extra_args)  # more `smimesh up` flags (e.g. --ingress)
        self.api = f"127.0.0.1:{free_port()}"
        self.log_path = run_dir.parent / f"up-{self.api.rsplit(':', 1)[1]}.out"
        self.env = {**os.environ, "SMIMESH_CONTEXT_FILE": str(context_file)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Mesh:
        command = [
            sys.executable,
            "-m",
            "smimesh",
            "up",
            str(self.directory),
            "--api-addr",
            self.api,
            "--run-dir",
            str(self.run_dir),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        answer = httpx.get(f"http://{self.api}/api/v1/status", timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def instances(self, workload: str | None = None) -> list[dict[str, Any]]:
        rows = self.status()["instances"]
        return [r for r in rows if workload is None or r["workload"] == workload]

    def wait_ready(self, expected_instances: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Until `expected_instances` run and are ready (their callers' sidecars hold their endpoints)."""

        def ready() -> list[dict[str, Any]] | None:
            rows = self.instances()
            good = [r for r in rows if r["state"] == "running" and r["sync"] == "SYNCED" and r["ready"]]
            return rows if len(rows) == expected_instances == len(good) else None

        rows: list[dict[str, Any]] = eventually(
            ready, timeout, what=f"{expected_instances} instances ready", mesh=self
        )
        return rows

    def proxy(self, instance: str) -> str:
        """The HTTP_PROXY of an instance: its sidecar's outbound listener."""
        return str(next(r["http_proxy"] for r in self.instances() if r["instance"] == instance))

    def stop(self, timeout: float = 20.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


def send(proxy: str, url: str, count: int) -> tuple[Counter[str], Counter[str], Counter[int]]:
    """`count` GETs of `url` through `proxy`; answers by version, by pod, and statuses."""
    versions: Counter[str] = Counter()
    pods: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    with httpx.Client(proxy=proxy, timeout=5) as client:
        for _ in range(count):
            try:
                answer = client.get(url)
            except httpx.TransportError:
                statuses[0] += 1
                continue
            statuses[answer.status_code] += 1
            if answer.status_code == 200:
                body = answer.json()
                versions[body["version"]] += 1
                pods[body["pod"]] += 1
    return versions, pods, statuses


class Traffic:
    """`with Traffic(proxy, url) as traffic:` sends requests one after another in a thread meanwhile."""

    def __init__(self, proxy: str, url: str) -> None:
        self.proxy, self.url = proxy, url
        self.statuses: Counter[int] = Counter()
        self.pods: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(proxy=self.proxy, timeout=5) as client:
            while not self._stop.is_set():
                try:
                    answer = client.get(self.url)
                except httpx.TransportError:
                    self.statuses[0] += 1
                    continue
                self.statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    self.pods[answer.json()["pod"]] += 1


def eventually(
    check: Callable[[], Any], timeout: float = 30.0, *, what: str = "", mesh: Mesh | None = None
) -> Any:
    """Call `check` until it returns something truthy; fail with `smimesh up`'s output if it never does."""
    deadline, last_error = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError, KeyError, StopIteration, IndexError) as error:
            last_error = repr(error)
        time.sleep(0.2)
    output = mesh.output()[-4000:] if mesh is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what} ({last_error})\n{output}")
