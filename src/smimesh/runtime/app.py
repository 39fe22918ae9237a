"""`smimesh up`: the composition of a running mesh on one machine, and its lifetime.

Owns the order things start and stop in, and every long-lived task of a running mesh:

    start: settings -> run dir (token, context) -> store (durable API layer) + file source (load DIR)
           -> xDS server -> pipeline -> supervisor (sidecars + workloads) -> HTTP API -> watch DIR
    stop:  API -> watch -> workloads then sidecars (SIGTERM, SIGKILL after a grace) -> pipeline -> xDS

On every change of the store the Workloads are reconciled (`runtime.reconcile`); a saved MeshConfig
file changes the modes live (`runtime.mesh_config`). Problems in the input are reported (file:line)
and the rest runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from smimesh.diagnostics import Diagnostic
from smimesh.errors import SmimeshError
from smimesh.local.guardian import Guardian
from smimesh.local.ingress import ingress_workloads
from smimesh.local.rundir import RunDir
from smimesh.local.sidecar import SidecarLauncher
from smimesh.local.supervisor import Supervisor
from smimesh.runtime.heap import freeze_startup_heap, thaw
from smimesh.runtime.readiness import Readiness
from smimesh.runtime.reconcile import WorkloadReconciler
from smimesh.runtime.root_tasks import RootTasks
from smimesh.settings import LOOPBACK, Settings

if TYPE_CHECKING:  # imported lazily at run time: `smimesh up --help` stays fast
    from smimesh.runtime.canary.controller import CanaryController
    from smimesh.runtime.identity import MeshSecurity
    from smimesh.runtime.pipeline import Pipeline
    from smimesh.server.ads import XdsServer
    from smimesh.server.cache import SnapshotCache
    from smimesh.server.metrics import ControlPlaneMetrics
    from smimesh.server.sync import SyncState
    from smimesh.sources.files import FileSource
    from smimesh.telemetry.service import Telemetry

T = TypeVar("T")
STORE_FILE = "applied.sqlite3"  # the durable store of API-applied resources, in the run dir


@dataclass
class UpConfig:
    directory: Path
    run_dir: Path | None = None  # default: DIR/.smimesh
    api_addr: str = f"{LOOPBACK}:15080"
    xds_port: int = 0
    settings: Settings = field(default_factory=Settings)
    mesh_config: Path | None = None  # MeshConfig file: traffic policy, mTLS and audit modes
    ca_cert: Path | None = None  # the user's CA (root, or intermediate + chain); with ca_key
    ca_key: Path | None = None
    prometheus_url: str | None = None  # metrics queries go to this Prometheus (else: built-in)
    xds_mode: str = "sotw"  # the sidecars' ADS flavour: "sotw" (state of the world) or "delta"
    ingress: str | None = None  # HOST:PORT of the ingress proxy (local/ingress.py), or none

    @property
    def resolved_run_dir(self) -> Path:
        return (self.run_dir or self.directory / ".smimesh").resolve()

    @property
    def user_ca(self) -> tuple[Path, Path] | None:
        return (self.ca_cert, self.ca_key) if self.ca_cert and self.ca_key else None

    @property
    def prometheus_dir(self) -> Path:
        """Where the generated Prometheus scrape config and targets file are kept up to date."""
        return self.resolved_run_dir / "prometheus"


@dataclass
class Console:
    """Where `smimesh up` talks to its user: plain lines and diagnostics (the CLI renders them)."""

    say: Callable[[str], None] = print
    diagnostics: Callable[[Sequence[Diagnostic]], None] = field(default=lambda items: _print_each(items))


class MeshApp:
    """One running mesh. `await start()`, then `await stop()` (always, also after a failed start)."""

    def __init__(self, config: UpConfig, console: Console | None = None) -> None:
        self.config = config
        self.console = console or Console()
        self.run_dir = RunDir(config.resolved_run_dir)
        self.api_address = ""
        self.xds_port = 0
        self.started_at = time.time()
        self.supervisor: Supervisor | None = None
        self._readiness: Readiness | None = None
        # Set by `start` in order (each is None until its step ran: `stop` copes with a partial start).
        self._sync: SyncState | None = None
        self._metrics: ControlPlaneMetrics | None = None
        self._pipeline: Pipeline | None = None
        self._files: FileSource | None = None
        self.xds: XdsServer | None = None
        self._telemetry: Telemetry | None = None
        self._cache: SnapshotCache | None = None
        self.security: MeshSecurity | None = None  # CA, modes, xDS credentials
        self.canaries: CanaryController | None = None
        self.tasks = RootTasks(self.console.say)  # supervised: a crash is said, and restarts or stops up
        self._closers: list[Callable[[], Any]] = []

    async def start(self) -> None:
        from smimesh.api import auth

        directory = self.config.directory.resolve()
        if not directory.is_dir():
            raise SmimeshError(
                f"{directory} is not a directory", hint="smimesh up DIR: DIR holds your manifests"
            )
        self._refuse_second_up()
        self.run_dir.create()
        token = auth.write_token(self.run_dir.path)
        store = await self._open_store()
        await self._load_directory(store, directory)
        await self._start_control_plane(store)
        workload_store = await self._start_canaries(store, directory)
        await self._start_workloads(workload_store, directory)
        await self._start_api(store, token)
        auth.register_context(self.api_address, self.run_dir.path)
        self._closers.append(lambda: auth.unregister_context(self.api_address, self.run_dir.path))
        self.tasks.spawn("watch manifests", _built(self._files).run)
        self.run_dir.write_up_info(
            {
                "pid": os.getpid(),
                "api": self.api_address,
                "directory": str(directory),
                "xds": f"{LOOPBACK}:{self.xds_port}",
                "started": self.started_at,
            }
        )
        freeze_startup_heap()

    async def stop(self) -> None:
        """Stop in reverse order of start; safe to call after a partial start, and twice."""
        with contextlib.suppress(OSError):
            self.run_dir.up_file.unlink()
        await self.tasks.stop()
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result
        thaw()  # an in-process caller (tests) gets its heap back under the cyclic GC

    def kill_now(self) -> None:
        """Last resort on a second Ctrl-C: SIGKILL every child at once."""
        if self.supervisor is not None:
            self.supervisor.kill_all_now()

    def status(self) -> dict[str, Any]:
        """What `smimesh status` shows: every instance with its processes, its sidecar's sync state and
        whether it is ready (`runtime.readiness`: its callers' sidecars hold its endpoint)."""
        rows = self.supervisor.status() if self.supervisor else []
        reasons = self._readiness.reasons() if self._readiness is not None else {}
        for row in rows:
            row["sync"] = self._sync.status(row["node_id"]) if self._sync is not None else "UNKNOWN"
            row["not_ready"] = reasons.get(row["node_id"], "starting")
            row["ready"] = not row["not_ready"]
        return {
            "pid": os.getpid(),
            "directory": str(self.config.directory.resolve()),
            "run_dir": str(self.run_dir.path),
            "api": self.api_address,
            "xds": f"{LOOPBACK}:{self.xds_port}",
            "uptime_s": round(time.time() - self.started_at, 1),
            "ready": all(row["ready"] for row in rows),
            "instances": rows,
            "delivery": self._delivery_status(),
            **self._security_status(rows),
        }

    def _delivery_status(self) -> dict[str, Any]:
        """What could not reach the sidecars: refused configs (NACK), configs that could not be
        generated (per sidecar), objects held back (`smimesh status` and `apply` show them)."""
        refused = [
            {
                "node_id": row["node_id"],
                "type": name,
                "message": sync["nack"],
                "nacks": sync["nacks"],
                "resend": sync["resend"],
            }
            for row in (self._sync.rows() if self._sync is not None else [])
            for name, sync in row["types"].items()
            if sync.get("nack")
        ]
        pipeline = self._pipeline
        return {
            "refused": refused,
            "generation_failed": pipeline.failed_nodes if pipeline is not None else {},
            "held_back": pipeline.held_back if pipeline is not None else {},
        }

    def _security_status(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if self.security is None:
            return {}
        return {"security": self.security.status(str(row["namespace"]) for row in rows)}

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until every instance is ready (`runtime.readiness`), or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._readiness is not None and not any(self._readiness.reasons().values()):
                return True
            await asyncio.sleep(0.05)
        return False

    # ---- steps of start() -------------------------------------------------------------------

    def _refuse_second_up(self) -> None:
        pid = self.run_dir.read_up_info().get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
            raise SmimeshError(
                f"a `smimesh up` (pid {pid}) already runs with {self.run_dir.path}",
                hint="stop it first (Ctrl-C in its terminal), or use another --run-dir",
            )

    async def _open_store(self) -> Any:
        from smimesh.sources.store import ResourceStore

        store, restored = await ResourceStore.open(self.run_dir.path / STORE_FILE)
        self._closers.append(store.close)  # closed last: the API (stopped before) writes to it
        self.console.diagnostics(restored)
        return store

    async def _load_directory(self, store: Any, directory: Path) -> None:
        from smimesh.sources.files import FileSource

        self._files = FileSource(
            directory,
            store,
            settings=self.config.settings,
            report=self.console.diagnostics,
            run_dir=self.run_dir.path,
        )
        self.console.diagnostics(await self._files.load())

    async def _start_control_plane(self, store: Any) -> None:
        from smimesh.runtime.identity import MeshSecurity
        from smimesh.runtime.pipeline import Pipeline
        from smimesh.runtime.refusals import RefusalConsole
        from smimesh.server.ads import XdsServer
        from smimesh.server.cache import SnapshotCache
        from smimesh.server.metrics import ControlPlaneMetrics
        from smimesh.server.sync import SyncState

        security = MeshSecurity.from_config(
            self.run_dir.path, self.config.settings, self.config.mesh_config, user_ca=self.config.user_ca
        )
        self.security = security
        if security.mesh_config_warnings:
            self.console.diagnostics(security.mesh_config_warnings)
        cache, self._sync, self._metrics = SnapshotCache(), SyncState(), ControlPlaneMetrics()
        self._cache = cache
        self.xds = XdsServer(
            cache,
            self._sync,
            host=LOOPBACK,
            port=self.config.xds_port,
            metrics=self._metrics,
            # per-node bootstrap credential; SDS requests for others' secrets; refusals said at once
            hooks=[*security.hooks, RefusalConsole(self.console.say)],
        )
        self.xds_port = await self.xds.start()
        self._closers.append(self.xds.stop)
        self._pipeline = Pipeline(
            store,
            cache,
            settings=self.config.settings,
            report=self.console.diagnostics,
            **security.pipeline_steps(),  # mTLS on every hop, RBAC, SDS secrets; the exact index
            failed_nodes=self._sync.set_generation_problems,  # proxy-status: ERROR, and why
        )
        self.tasks.spawn("pipeline", self._pipeline.run)
        self.tasks.spawn("certificates", lambda: security.run(_built(self._pipeline).mark_changed))
        if self.config.mesh_config is not None:
            path = self.config.mesh_config
            self.tasks.spawn("watch mesh config", lambda: self._watch_mesh_config(path))

    async def _watch_mesh_config(self, path: Path) -> None:
        from smimesh.runtime.mesh_config import MeshConfigWatcher

        console = self.console
        watcher = MeshConfigWatcher(
            path, self.security, _built(self._pipeline).mark_changed, console.say, console.diagnostics
        )
        await watcher.run()

    async def _start_canaries(self, store: Any, directory: Path) -> Any:
        """The canary controller (issue 14); returns the store as the Workload reconciler must see
        it (targets of idle canaries at 0 replicas). Saved analyses are routed again before any
        workload starts, so a restart resumes them."""
        from smimesh.runtime.canary.wiring import start_controller

        self.canaries, workload_store, closers = await start_controller(
            store,
            directory,
            self.run_dir.path,
            serving=lambda node_id: self.supervisor is not None and self.supervisor.serving(node_id),
            metrics_query=lambda: self._telemetry.query if self._telemetry is not None else None,
            say=self.console.say,
            prometheus_url=self.config.prometheus_url,  # MetricTemplates without an address
        )
        self._closers.extend(closers)
        self.tasks.spawn("canary controller", self.canaries.run)
        return workload_store

    async def _start_workloads(self, store: Any, directory: Path) -> None:
        """The guardian, the supervisor and the reconciler; returns once the first processes started."""
        settings = self.config.settings
        guardian = Guardian().start()
        self._closers.append(guardian.close)
        launcher = SidecarLauncher(
            self.run_dir,
            self.xds_port,
            log_level=settings.envoy_log_level,
            xds_credential=_built(self.security).bootstrap_metadata,
            delta=self.config.xds_mode == "delta",
            stats_flush_interval_s=settings.scrape_interval_s,  # percentiles keep up with counts
        )
        self.supervisor = Supervisor(
            self.run_dir,
            settings=settings,
            announce=self.console.say,
            sidecar_command=launcher,
            guardian=guardian,
        )
        self._closers.append(self.supervisor.stop_all)
        self._readiness = Readiness(self.supervisor, self._pipeline, self._cache, self._sync)
        reconciler = WorkloadReconciler(
            self.supervisor,
            self._pipeline,
            self._cache,
            self._sync,
            self.console.say,
            extra=ingress_workloads(self.config.ingress, self.run_dir.path),
        )
        self.tasks.spawn("reconcile workloads", lambda: reconciler.run(store, directory))
        # Let the first reconcile start the processes before the API's imports block the loop:
        # sidecars and workloads then boot while the API gets ready.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reconciler.first_done.wait(), 5.0)
        await asyncio.sleep(0.05)

    async def _start_api(self, store: Any, token: str) -> None:
        from smimesh.api.app import create_app
        from smimesh.api.serve import ApiServer
        from smimesh.runtime.delivery import DeliveryWatch
        from smimesh.runtime.explain import LiveExplainer

        assert self.supervisor is not None
        telemetry = self._start_telemetry()
        app = create_app(
            store,
            token=token,
            sync_state=self._sync,
            metrics_text=self._metrics_text,
            status=self.status,
            proxy_admin=self.supervisor.admin_address,
            settings=self.config.settings,
            metrics_query=telemetry.query,
            explain=LiveExplainer(self._pipeline, store, self.security).explain,
            delivery=DeliveryWatch(store, self._pipeline, _built(self._cache), _built(self._sync)),
            observe=self._start_observatory(telemetry),
            canaries=self.canaries,
        )
        api = ApiServer(app, self.config.api_addr)
        port = await api.start()
        self.api_address = f"{self.config.api_addr.rpartition(':')[0]}:{port}"
        self._closers.append(api.stop)

    # ---- running ------------------------------------------------------------------------------

    def _start_telemetry(self) -> Any:
        """Scrape every sidecar's stats (the SMI metrics API and /metrics read them)."""
        from smimesh.telemetry.edges import Topology
        from smimesh.telemetry.service import Telemetry

        last: list[tuple[Any, Topology]] = []  # (the model it was built from, its topology)

        def topology() -> Topology:
            model = _built(self._pipeline).model
            if model is None:
                return Topology()
            if not last or last[0][0] is not model:  # one model per rebuild: rebuild only then
                last[:] = [(model, Topology.from_model(model))]  # holds the model: no id() reuse
            return last[0][1]

        url = self.config.prometheus_url
        self._telemetry = Telemetry(topology, self.config.settings, prometheus_url=url)
        self.tasks.spawn("telemetry", self._telemetry.run, restart=True)
        if url:
            self.tasks.spawn(
                "prometheus targets", lambda: self._keep_prometheus_targets(topology), restart=True
            )
        return self._telemetry

    def _start_observatory(self, telemetry: Any) -> Any:
        """Read the sidecars' request logs: tap, observed calls, policy suggest (runtime/observe.py)."""
        from smimesh.runtime.observe import Observatory
        from smimesh.runtime.request_sources import LogFiles
        from smimesh.telemetry.query import BuiltinBackend

        def log_path(namespace: str, instance: str) -> Path:
            return self.run_dir.log_path(namespace, instance, sidecar=True)

        backend = BuiltinBackend(telemetry.window)
        source = LogFiles(log_path)
        observatory = Observatory(lambda: _built(self._pipeline).model, source, telemetry.routes, backend)
        self.tasks.spawn("observe requests", observatory.run, restart=True)
        return observatory

    async def _keep_prometheus_targets(self, topology: Callable[[], Any]) -> None:
        """Rewrite the scrape config and targets file whenever the sidecars change (Prometheus
        re-reads a file_sd targets file by itself, so a user starts it once)."""
        written: Any = None
        while True:
            current = topology()
            if current != written:
                _built(self._telemetry).write_prometheus_files(self.config.prometheus_dir)
                written = current
            await asyncio.sleep(self.config.settings.scrape_interval_s)

    def _metrics_text(self) -> str:
        body, _ = _built(self._metrics).render()
        mesh = self._telemetry.export_text() if self._telemetry is not None else ""
        return str(body.decode()) + mesh


def _built(part: T | None) -> T:
    """A part `start` builds before anything that uses it (its steps run in order)."""
    if part is None:
        raise RuntimeError("a part of smimesh up was used before start() built it")
    return part


def _print_each(items: Sequence[Diagnostic]) -> None:
    for item in items:
        print(item.format())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
