"""The issue-3 world for tests/e2e/test_xds_bookstore.py: the real control plane, real Envoys, real backends.

Owns `ControlPlane` (a `ResourceStore`, the real `Pipeline` — build_model → proxy_view → generate →
Snapshot — a `SnapshotCache` and the `XdsServer`, on an event loop in a thread of their own, so a
test drives traffic with plain blocking calls while the control plane keeps serving), `Ledger` (a
server hook that remembers every ACK and NACK, across control-plane restarts), and `World`: one
Envoy per bookstore instance, started with the GENERATED bootstrap (`xds.build_bootstrap`, SotW or
delta), plus a `smimesh.testing.workloads serve` process per instance that listens, each saying who
it is. Everything runs on 127.0.0.1 with ports from `free_port`; `World.close()` stops it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from envoy.config.route.v3 import route_pb2

from smimesh.diagnostics import Diagnostic
from smimesh.local.binaries import find_envoy
from smimesh.mesh import Instance
from smimesh.resources import load_text
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.ads import XdsServer
from smimesh.server.cache import SnapshotCache
from smimesh.server.hooks import ServerHooks, StreamInfo
from smimesh.server.sync import SYNCED, ProxySync, SyncState
from smimesh.settings import Settings
from smimesh.sources import API_ORIGIN, ResourceStore
from smimesh.testing import bookstore
from smimesh.testing.net import free_port, wait_for_port, wait_until
from smimesh.xds import type_urls as T
from smimesh.xds.bootstrap import build_bootstrap
from smimesh.xds.snapshot import Snapshot

Result = TypeVar("Result")
XDS_TYPES = (T.LISTENER, T.ROUTE, T.CLUSTER, T.ENDPOINT)  # what the plain (issue-3) generators emit
ROUTES = "outbound_http"  # the route table of every sidecar's outbound HTTP listener
V1, V2 = "outbound|bookstore|bookstore-v1|80", "outbound|bookstore|bookstore-v2|80"


# `workloads serve`, with Nagle off: its handler writes the headers and the body in two sends, and
# without TCP_NODELAY the body waits for the peer's delayed ACK (~40 ms per keep-alive response).
SERVE = "from smimesh.testing import workloads as w; w.Handler.disable_nagle_algorithm = True; w.serve()"


def split_yaml(v1: int, v2: int) -> str:
    """The bookstore TrafficSplit with other weights, as a user would `smimesh apply -f` it."""
    return f"""
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {{name: bookstore, namespace: bookstore}}
spec:
  service: bookstore
  backends: [{{service: bookstore-v1, weight: {v1}}}, {{service: bookstore-v2, weight: {v2}}}]
"""


class Ledger(ServerHooks):
    """Every ACK (per node and type) and every NACK (with Envoy's text) the server ever received."""

    def __init__(self) -> None:
        self.acks: Counter[tuple[str, str]] = Counter()
        self.nacks: list[tuple[str, str, str]] = []

    def on_ack(self, stream: StreamInfo, type_url: str, version: str) -> None:
        self.acks[(stream.node_id, type_url)] += 1

    def on_nack(self, stream: StreamInfo, type_url: str, version: str, message: str) -> None:
        self.nacks.append((stream.node_id, T.short_name(type_url), message))


class ControlPlane:
    """Store + pipeline + ADS server on their own loop thread; `stop()` ends them all (a "process")."""

    def __init__(self, instances: Sequence[Instance], ledger: Ledger, *, port: int = 0) -> None:
        self.instances, self.ledger, self.port = list(instances), ledger, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="control-plane", daemon=True)
        self._task: asyncio.Task[None] | None = None

    def start(self, *manifests: str) -> ControlPlane:
        """Serve `manifests` (applied in order through the store, as the API does); returns self."""
        self._thread.start()
        self.call(self._start(manifests))
        return self

    async def _start(self, manifests: Sequence[str]) -> None:
        self.store, self.cache, self.sync = ResourceStore(), SnapshotCache(), SyncState()
        self.server = XdsServer(self.cache, self.sync, port=self.port, hooks=(self.ledger,))
        self.port = await self.server.start()
        for text in manifests:
            await self._apply(text)
        self.pipeline = Pipeline(self.store, self.cache, settings=Settings())
        self.pipeline.set_instances(self.instances)
        self._task = asyncio.create_task(self.pipeline.run(), name="pipeline")

    async def _apply(self, text: str) -> list[Diagnostic]:
        loaded = load_text(text, "test-manifests.yaml", references=False)  # the API checks the store
        assert loaded.ok, loaded.diagnostics
        return [*loaded.diagnostics, *await self.store.apply(loaded.objects, API_ORIGIN)]

    def apply(self, text: str) -> list[Diagnostic]:
        """What `smimesh apply -f` does to a running control plane: API objects into the store."""
        return self.call(self._apply(text))

    def call(self, work: Coroutine[Any, Any, Result], timeout: float = 30.0) -> Result:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def read(self, look: Callable[[], Result]) -> Result:
        """Run `look` on the control plane's loop (its state is only ever touched from there)."""

        async def on_loop() -> Result:
            return look()

        return self.call(on_loop())

    def converged(self, node_id: str, types: Sequence[str] = XDS_TYPES) -> bool:
        """SYNCED, and the proxy ACKed the current snapshot's version of every type in `types`."""

        def look() -> bool:
            proxy, snapshot = self.sync.get(node_id), self.cache.get_snapshot(node_id)
            if proxy is None or snapshot is None or proxy.status != SYNCED:
                return False
            held = proxy.types
            # Envoy asks for EDS/RDS only by name: a sidecar with no EDS cluster never asks for EDS
            wanted = [t for t in types if t in T.WILDCARD_TYPES or snapshot.entries(t)]
            return all(t in held and held[t].acked_version == snapshot.version(t) for t in wanted)

        return self.read(look)

    def proxy(self, node_id: str) -> ProxySync:
        """The live sync state of `node_id` (it must have connected): read it while nothing changes."""
        found = self.read(partial(self.sync.get, node_id))
        assert found is not None, f"{node_id} never connected"
        return found

    def snapshot(self, node_id: str) -> Snapshot:
        """The snapshot the cache holds for `node_id` now (the pipeline built one for every instance)."""
        found = self.read(partial(self.cache.get_snapshot, node_id))
        assert found is not None, f"no snapshot for {node_id}"
        return found

    def stop(self) -> None:
        if self._thread.is_alive():
            self.call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.server.stop()


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL if it lingers (every process here is a group leader)."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)


class World:
    """The bookstore world served to real Envoys (`delta` picks DELTA_GRPC in their bootstrap)."""

    def __init__(self, directory: Path, *, delta: bool) -> None:
        self.directory, self.delta, self.mode = directory, delta, "delta" if delta else "sotw"
        self.instances = bookstore.world_instances(bookstore.world(), allocate=free_port)
        self.nodes = [instance.node_id for instance in self.instances]
        self.ledger = Ledger()
        self.control: ControlPlane | None = None
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> World:
        self.control = ControlPlane(self.instances, self.ledger).start(bookstore.BOOKSTORE_YAML)
        for instance in self.instances:
            self._start_app(instance)
            self._start_sidecar(instance)
        for instance in self.instances:
            wait_for_port(instance.admin_port, timeout=30)
        self.wait_converged(self.nodes)
        return self

    @property
    def cp(self) -> ControlPlane:
        assert self.control is not None, "the world is not started"
        return self.control

    def instance(self, node_id: str) -> Instance:
        return next(instance for instance in self.instances if instance.node_id == node_id)

    def _start_sidecar(self, instance: Instance) -> None:
        bootstrap = build_bootstrap(
            instance.node_id,
            f"{instance.workload}.{instance.namespace}",
            "127.0.0.1",
            self.cp.port,
            instance.admin_port,
            delta=self.delta,
        )
        path = self.directory / f"{instance.node_id}.bootstrap.json"
        path.write_text(json.dumps(bootstrap))
        argv = [str(find_envoy()), "-c", str(path), "--use-dynamic-base-id", "--concurrency", "1"]
        argv += ["--log-level", "warning", "--drain-time-s", "1"]
        self.processes.append(_spawn(argv, self.directory / f"{instance.node_id}.envoy.log"))

    def _start_app(self, instance: Instance) -> None:
        for port in instance.inbound:  # buyer and thief only call out: they need no server
            env = {
                **os.environ,
                "HOST": "127.0.0.1",
                "PORT": str(port.app_port),
                "WORKLOAD_NAME": instance.workload,
                "POD_NAME": instance.name,
                "POD_NAMESPACE": instance.namespace,
                "VERSION": dict(instance.labels).get("version", ""),
            }
            argv = [sys.executable, "-c", SERVE]
            self.processes.append(_spawn(argv, self.directory / f"{instance.name}.app.log", env))

    def wait_converged(self, nodes: Sequence[str], timeout: float = 45.0) -> None:
        for node in nodes:
            converged = partial(self.cp.converged, node)
            wait_until(converged, timeout, 0.02, what=f"{node} to converge")

    def admin(self, node_id: str, path: str) -> str:
        url = f"http://127.0.0.1:{self.instance(node_id).admin_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def split_weights(self, node_id: str = bookstore.BUYER) -> dict[str, int]:
        """The weights the control plane now serves `node_id` for the bookstore root (cluster -> weight)."""

        def look() -> dict[str, int]:
            snapshot = self.cp.cache.get_snapshot(node_id)
            if snapshot is None or ROUTES not in snapshot.entries(T.ROUTE):
                return {}
            table = route_pb2.RouteConfiguration()
            snapshot.entries(T.ROUTE)[ROUTES].resource.Unpack(table)
            host = next(h for h in table.virtual_hosts if "bookstore.bookstore" in h.domains)
            return {c.name: c.weight.value for c in host.routes[0].route.weighted_clusters.clusters}

        return self.cp.read(look)

    def set_split(self, v1: int, v2: int) -> float:
        """Apply new weights through the store, wait for the caller's ACK; returns when it was seen."""
        problems = [d for d in self.cp.apply(split_yaml(v1, v2)) if d.is_error]
        assert not problems, problems
        wanted = {cluster: w for cluster, w in ((V1, v1), (V2, v2)) if w}
        wait_until(lambda: self.split_weights() == wanted, 20, 0.01, what=f"weights {wanted} built")
        self.wait_converged([bookstore.BUYER], timeout=20)
        return time.monotonic()

    def stop_control_plane(self) -> None:
        """Stop the whole control plane (store, pipeline, server): the Envoys lose their ADS stream."""
        self.cp.stop()

    def start_control_plane(self, *manifests: str) -> None:
        """A fresh control plane (no memory of the last one) on the same port, serving `manifests`."""
        self.control = ControlPlane(self.instances, self.ledger, port=self.cp.port).start(*manifests)

    def close(self) -> None:
        for process in reversed(self.processes):
            _stop(process)
        if self.control is not None:
            self.control.stop()

    def logs(self) -> str:
        """The tail of every Envoy and app log, for failure messages."""
        return "\n".join(f"== {p.name}\n{p.read_text()[-800:]}" for p in sorted(self.directory.glob("*.log")))
