"""`smimesh controller`: the control plane against a Kubernetes API server (one replica of N).

Owns `KubeController(ControllerConfig)`: `await start()`, `await stop()`, `status()`,
`await wait_synced()`. Every replica: reads the mesh CA from its Secret (creating it if absent),
watches the cluster (`sources.kubernetes.KubernetesSource` -> the same `ResourceStore`, pipeline,
secured views and xDS server as `smimesh up`), serves ADS/SDS to the sidecars connected to it
(authenticated by their projected service-account tokens through TokenReview,
`server.token_auth`), and serves the conversion and admission webhooks (TLS from the mesh CA,
rotated). One replica, the holder of the Lease `smimesh-controller`, also writes: Events for
diagnostics and the webhooks' caBundle (`writes.py`), and runs Flagger's Canaries (`canaries.py`).
Once every pod's first config is published, the heap built so far is frozen (`runtime/heap.py`).
See docs/kubernetes.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from smimesh.api.serve import split_addr
from smimesh.api.webhooks.app import create_webhook_app
from smimesh.diagnostics import Diagnostic
from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.store import load_root_files
from smimesh.mesh.modes import CLUSTER_EGRESS, NamespaceMode
from smimesh.pods.inject import InjectConfig
from smimesh.resources import validate_references
from smimesh.resources.crd import WebhookService
from smimesh.runtime.heap import freeze_startup_heap, thaw
from smimesh.runtime.identity import MeshSecurity
from smimesh.runtime.kubernetes.ca_secret import ensure_ca, write_private
from smimesh.runtime.kubernetes.lease import LeaderElector
from smimesh.runtime.kubernetes.webhooks import ServingWebhooks, service_names
from smimesh.runtime.kubernetes.writes import DEFAULT_EVENT_REFRESH_S, LeaderWrites
from smimesh.runtime.pipeline import Pipeline
from smimesh.server.ads import XdsServer
from smimesh.server.metrics import ControlPlaneMetrics
from smimesh.server.runtime_layer import RuntimeLayers
from smimesh.server.sync import SyncState
from smimesh.server.token_auth import TokenReviewAuthenticator
from smimesh.settings import Settings
from smimesh.sources.kubernetes.client import KubeClient
from smimesh.sources.kubernetes.kubeconfig import ClusterConfig, in_cluster, load_cluster
from smimesh.sources.kubernetes.source import KubernetesSource
from smimesh.sources.store import ResourceStore
from smimesh.telemetry.log_service import RequestLogService

log = logging.getLogger(__name__)
LEASE_NAME = "smimesh-controller"
CA_SECRET = "smimesh-ca"


@dataclass
class ControllerConfig:
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str = "smimesh-system"
    mesh: str = "smimesh"
    xds_addr: str = "0.0.0.0:15128"
    webhook_addr: str = "0.0.0.0:9443"
    identity: str = field(default_factory=lambda: os.environ.get("POD_NAME") or socket.gethostname())
    state_dir: Path | None = None
    ca_files: tuple[Path, Path] | None = None  # a user's CA, instead of the Secret
    settings: Settings = field(default_factory=Settings)
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    lease_retry_s: float = 2.0
    writes_interval_s: float = 2.0
    event_refresh_s: float = DEFAULT_EVENT_REFRESH_S  # a lasting problem's Event: count bumped this often
    webhook_cert_lifetime: timedelta = timedelta(days=7)
    webhook_service: WebhookService = field(default_factory=WebhookService)
    api_addr: str | None = None  # the SMI metrics API (and status reads) of this replica; None: not served
    inject: InjectConfig = field(default_factory=InjectConfig)  # what the /mutate webhook injects
    egress: str = "auto"  # the mesh-wide egress switch: a key of CLUSTER_EGRESS (mesh/modes.py)

    def cluster(self) -> ClusterConfig:
        if self.kubeconfig is None and self.context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return in_cluster()
        return load_cluster(self.kubeconfig, self.context)


class KubeController:
    """See the module docstring."""

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self._tasks: list[asyncio.Task[Any]] = []
        self._closers: list[Any] = []
        self.xds_port = 0
        self.webhook_port = 0

    # ---- start / stop ---------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        self.client = KubeClient(config.cluster())
        self._closers.append(self.client.aclose)
        ca = await self._load_ca()
        self.ca = ca
        # Derived leaves: every replica serves an identity the same certificate and key (HA).
        self.security = MeshSecurity(
            self._state_dir(),
            config.settings,
            modes=CLUSTER_EGRESS[config.egress],
            user_ca=self._ca_paths,
            derived_leaves=True,
        )
        self.store = ResourceStore()
        await self._start_xds()
        self.source = KubernetesSource(
            self.client,
            self.store,
            mesh=config.mesh,
            on_instances=self.pipeline.set_instances,
            on_modes=self._set_namespace_modes,
            report=self._report,
        )
        self._spawn(self.source.run(), "kubernetes source")
        self._spawn(self._freeze_when_published(), "freeze the start-up heap")
        await self._start_webhooks(ca)
        self._start_leader_duties()
        if config.api_addr:
            await self._start_metrics_api(config.api_addr)
        self._start_canaries()

    def _start_canaries(self) -> None:
        """Flagger's Canaries, run by the lease holder (canaries.py); metrics from this replica's
        telemetry when it serves the metrics API, else none (each check is then the no-data policy)."""
        from smimesh.runtime.kubernetes.canaries import KubeCanaries

        def metrics_query() -> Any:
            telemetry = getattr(self, "telemetry", None)
            return telemetry.query if telemetry is not None else None

        self.canaries = KubeCanaries(
            self.client,
            self._state_dir(),
            leading=lambda: self.elector.is_leader,
            metrics_query=metrics_query,
            identity=self.config.identity,
        )
        self._spawn(self.canaries.run(), "canaries")

    async def _start_metrics_api(self, addr: str) -> None:
        from smimesh.runtime.explain import LiveExplainer, callers_from_instances
        from smimesh.runtime.kubernetes.metrics_api import serve_metrics, telemetry_for

        self.telemetry = telemetry_for(lambda: self.pipeline.model, self.config.settings)
        self._spawn(self.telemetry.run(), "telemetry")
        callers = lambda: callers_from_instances(self.source.instances)  # noqa: E731
        explain = LiveExplainer(self.pipeline, self.store, self.security, callers).explain
        self.api = await serve_metrics(
            self.store,
            self.telemetry,
            addr,
            self.sync,
            status=self.status,
            explain=explain,
            observe=self._start_observatory(),
        )
        self._closers.append(self.api.stop)

    def _start_observatory(self) -> Any:
        """Tap, observed calls, policy suggest and the dashboard's graph (runtime/observe.py), from the
        request logs the pods' sidecars send here (runtime/request_sources.py)."""
        from smimesh.runtime.observe import Observatory
        from smimesh.runtime.request_sources import ControlPlaneLogs
        from smimesh.telemetry.query import BuiltinBackend

        source = ControlPlaneLogs(self.request_logs, self.layers)
        backend = BuiltinBackend(self.telemetry.window)
        self.observatory = Observatory(lambda: self.pipeline.model, source, self.telemetry.routes, backend)
        self._spawn(self.observatory.run(), "observe requests")
        return self.observatory

    def _state_dir(self) -> Path:
        if self.config.state_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="smimesh-controller-")
            self._closers.append(lambda: tmp.cleanup())
            self.config.state_dir = Path(tmp.name)
        return self.config.state_dir

    async def _load_ca(self) -> CertificateAuthority:
        if self.config.ca_files is not None:
            self._ca_paths = self.config.ca_files
        else:
            cert, key = await ensure_ca(
                self.client, self.config.namespace, CA_SECRET, self.config.settings.trust_domain
            )
            self._ca_paths = write_private(self._state_dir() / "ca", cert, key)
        return load_root_files(*self._ca_paths, now=datetime.now(UTC))

    async def _start_xds(self) -> None:
        security, settings = self.security, self.config.settings
        # RuntimeLayers: a pod's sidecar is tapped through its RTDS layer (server/runtime_layer.py)
        cache, self.sync, self.metrics = RuntimeLayers(), SyncState(), ControlPlaneMetrics()
        self.layers = cache
        self.authenticator = TokenReviewAuthenticator(self.client.token_review, identity_of=self._identity_of)
        # The pods' sidecars send their request logs here, authenticated as their xDS streams are.
        self.request_logs = RequestLogService(self.authenticator.authorize_async)
        host, port = split_addr(self.config.xds_addr)
        self.xds = XdsServer(
            cache,
            self.sync,
            host=host,
            port=port,
            metrics=self.metrics,
            hooks=[self.authenticator, security.guard],
            services=[self.request_logs.handler()],
        )
        self.xds_port = await self.xds.start()
        self._closers.append(self.xds.stop)
        self.pipeline = Pipeline(
            self.store,
            cache,
            settings=settings,
            report=self._report,
            **security.pipeline_steps(),
            failed_nodes=self.sync.set_generation_problems,
        )
        self._spawn(self.pipeline.run(), "pipeline")
        self._spawn(security.run(self.pipeline.mark_changed), "certificates")

    async def _start_webhooks(self, ca: CertificateAuthority) -> None:
        service = self.config.webhook_service
        app = create_webhook_app(ready=self.ready, status=self.status, inject=self.config.inject)
        self.webhooks = ServingWebhooks(
            app,
            ca,
            self.config.webhook_addr,
            service_names(service.name, service.namespace),
            lifetime=self.config.webhook_cert_lifetime,
        )
        self.webhook_port = await self.webhooks.start()
        self._closers.append(self.webhooks.stop)
        self._spawn(self.webhooks.run(), "webhook certificate")

    def _start_leader_duties(self) -> None:
        config = self.config
        self.writes = LeaderWrites(
            self.client,
            identity=config.identity,
            bundle=lambda: self.ca.anchor_pem,
            diagnostics=self.diagnostics,
            interval_s=config.writes_interval_s,
            refresh_s=config.event_refresh_s,
            settled=self.settled,
        )
        self.elector = LeaderElector(
            self.client,
            config.namespace,
            LEASE_NAME,
            config.identity,
            lease_duration_s=config.lease_duration_s,
            renew_deadline_s=config.renew_deadline_s,
            retry_s=config.lease_retry_s,
            on_change=self._leadership,
        )
        self._spawn(self.elector.run(), "lease")
        self._spawn(self.writes.run(lambda: self.elector.is_leader), "lease holder writes")

    async def _freeze_when_published(self) -> None:
        """Once every pod's first config is published, freeze the heap built so far (runtime/heap.py):
        the informers' caches and the first snapshots then cost the cyclic GC nothing under churn."""
        await self.source.wait_synced()
        # Polled: `pipeline.built` is other waiters' too, so it is not cleared here.
        while len(self.pipeline.published_instances) < len(self.source.instances):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        freeze_startup_heap()
        self._closers.append(thaw)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                result = close()
                if asyncio.iscoroutine(result):
                    await result
        self._closers.clear()

    async def wait_synced(self) -> None:
        await self.source.wait_synced()
        await self.pipeline.built.wait()

    # ---- callbacks ------------------------------------------------------------------------------

    def _identity_of(self, node_id: str) -> tuple[str, str] | None:
        identity = self.security.identity_of_node(node_id)
        return None if identity is None else (identity.namespace, identity.service_account)

    def _set_namespace_modes(self, modes: tuple[NamespaceMode, ...]) -> None:
        if self.security.set_modes(replace(self.security.modes, namespaces=modes)):
            self.pipeline.mark_changed()

    def _leadership(self, leading: bool) -> None:
        if not leading:
            self.writes.lost_leadership()

    def _report(self, diagnostics: Any) -> None:
        for diagnostic in diagnostics:
            log.warning("%s", diagnostic.format())

    def diagnostics(self) -> list[Diagnostic]:
        """Every current problem about an object: loading (each object's current version), references
        across the cluster, the model. A problem that went away is not here (its Event is deleted)."""
        found = {
            *(d for problems in self.source.problems.values() for d in problems),
            *validate_references(self.store.snapshot()),
            *self.pipeline.diagnostics,
        }
        return sorted(found, key=lambda d: (str(d.object), d.code, d.message))

    def ready(self) -> bool:
        return all(i.synced.is_set() for i in self.source.informers.values())

    def settled(self) -> bool:
        """Synced, and the model was built from the store as it is now: `diagnostics()` is complete."""
        return self.ready() and self.pipeline.built_generation == self.store.generation

    def status(self) -> dict[str, Any]:
        return {
            "identity": self.config.identity,
            "leader": self.elector.is_leader,
            "synced": self.ready(),
            "xds_port": self.xds_port,
            "proxies": self.sync.rows(),
            "informers": {
                k: vars(i.stats) | {"synced": i.synced.is_set()} for k, i in self.source.informers.items()
            },
            "xds_refusals": [vars(r) for r in self.authenticator.refusals],
            "events_created": self.writes.events_created,
            "events_updated": self.writes.events_updated,
            "events_deleted": self.writes.events_deleted,
            "bundle_updates": self.writes.bundle_updates,
            "webhook_certificate": {
                "serial": str(getattr(self.webhooks.server.certificate, "serial", "")),
                "rotations": self.webhooks.rotations,
            },
            **self._instances_status(),
        }

    def _instances_status(self) -> dict[str, Any]:
        """The pods' instances and their certificates, in the shape `smimesh up`'s status gives them
        (the dashboard's workload details read them): a pod's restarts are the kubelet's, not known here."""
        model = self.pipeline.model
        instances = list(model.instances.values()) if model is not None else []
        rows = [
            {"node_id": i.node_id, "namespace": i.namespace, "workload": i.workload, "instance": i.name,
             "state": "pod", "sync": self.sync.status(i.node_id), "restarts": "n/a"}
            for i in sorted(instances, key=lambda i: i.node_id)
        ]  # fmt: skip
        return {"instances": rows, "security": self.security.status(r["namespace"] for r in rows)}
