"""The Kubernetes end-to-end world: the test API server, `smimesh controller` replicas (each on an event
loop in a thread of its own), and loopback "pods" — a Pod object with `podIP: 127.0.0.1` and the port
annotations, a workload process and a real Envoy whose bootstrap carries the pod's projected
service-account token (issued by the API server for the audience `smimesh`). The test plays the
kubelet: it creates the Pod with its status, the EndpointSlices, and starts the processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.kubernetes.kube_world import meshed_namespace

from smimesh.api.webhooks.config import crds_with_bundle, validating_webhook
from smimesh.local.binaries import find_envoy
from smimesh.pods.sidecar import control_plane_telemetry
from smimesh.resources.crd import WebhookService, flagger_crds
from smimesh.runtime.kubernetes.controller import ControllerConfig, KubeController
from smimesh.server.sync import SYNCED
from smimesh.sources.kubernetes import cluster
from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.net import free_port, wait_for_port, wait_until
from smimesh.testing.xds_world import SERVE, _spawn, _stop
from smimesh.xds.bootstrap import build_bootstrap

SERVICE = WebhookService()


class ControllerThread:
    """One controller replica on its own loop; `call(fn)` runs `fn(controller)` in that loop."""

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.controller: KubeController | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"controller {config.identity}", daemon=True)

    def start(self) -> ControllerThread:
        self._thread.start()
        assert self._ready.wait(60), "the controller did not start"
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self.controller = KubeController(self.config)
        try:
            await self.controller.start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await self.controller.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def call(self, fn: Callable[[KubeController], Any]) -> Any:
        assert self._loop is not None and self.controller is not None
        controller = self.controller

        async def run() -> Any:
            return fn(controller)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    @property
    def ctl(self) -> KubeController:
        assert self.controller is not None
        return self.controller


@dataclass
class LoopbackPod:
    name: str
    namespace: str
    service_account: str
    labels: dict[str, str]
    serves: bool = True
    app_port: int = field(default_factory=free_port)
    sidecar_port: int = field(default_factory=free_port)
    outbound_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)

    @property
    def node_id(self) -> str:
        return f"{self.name}.{self.namespace}"

    def pod_object(self) -> dict[str, Any]:
        annotations = {
            cluster.PORTS: json.dumps({"http": {"sidecar": self.sidecar_port, "app": self.app_port}}),
            cluster.OUTBOUND_PORT: str(self.outbound_port),
            cluster.ADMIN_PORT: str(self.admin_port),
        }
        ports = [{"name": "http", "containerPort": 8080}] if self.serves else []
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": self.labels,
                "annotations": annotations,
            },
            "spec": {
                "serviceAccountName": self.service_account,
                "containers": [{"name": "app", "ports": ports}],
            },
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }


def service(name: str, namespace: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }


def endpoint_slice(name: str, namespace: str, service_name: str, pods: list[LoopbackPod]) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace, "labels": {cluster.SERVICE_NAME: service_name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [
            {
                "addresses": ["127.0.0.1"],
                "conditions": {"ready": True},
                "targetRef": {"kind": "Pod", "name": p.name, "namespace": p.namespace},
            }
            for p in pods
        ],
    }


class KubeWorld:
    """See the module docstring. `close()` stops every process and replica."""

    def __init__(self, api: KubeApiServer, directory: Path) -> None:
        self.api, self.directory = api, directory
        self.kubeconfig = api.write_kubeconfig(directory / "kubeconfig")
        self.replicas: list[ControllerThread] = []
        self.pods: dict[str, LoopbackPod] = {}
        self.processes: dict[str, list[Any]] = {}

    def install(self) -> None:
        """What `smimesh install` would create, with no caBundle yet: the lease holder fills it in."""
        meshed_namespace(self.api, "smimesh-system")
        for definition in [*crds_with_bundle(b"", SERVICE), *flagger_crds()]:
            self.api.create(definition)
        self.api.create(validating_webhook(b"", SERVICE))

    def start_replica(self, identity: str, **options: Any) -> ControllerThread:
        config = ControllerConfig(
            kubeconfig=self.kubeconfig,
            identity=identity,
            xds_addr="127.0.0.1:0",
            webhook_addr="127.0.0.1:0",
            state_dir=self.directory / identity,
            webhook_cert_lifetime=options.pop("webhook_cert_lifetime", timedelta(days=1)),
            **options,
        )
        replica = ControllerThread(config).start()
        self.replicas.append(replica)
        if len(self.replicas) == 1:  # the webhook Service's endpoint
            self.route_webhooks(replica)
        return replica

    def route_webhooks(self, replica: ControllerThread) -> None:
        """The webhook Service's endpoint is `replica` (as when the previous one's pod went away)."""
        self.api.route_service(SERVICE.namespace, SERVICE.name, f"127.0.0.1:{replica.ctl.webhook_port}")

    def add_pod(self, pod: LoopbackPod, replica: ControllerThread, *, token: str | None = None) -> None:
        self.api.create(pod.pod_object())
        token = token or self.api.issue_token(pod.namespace, pod.service_account, pod=pod.name)
        self.pods[pod.name] = pod
        procs = []
        if pod.serves:
            env = {
                **os.environ,
                "HOST": "127.0.0.1",
                "PORT": str(pod.app_port),
                "WORKLOAD_NAME": pod.labels["app"],
                "POD_NAME": pod.name,
                "POD_NAMESPACE": pod.namespace,
                "VERSION": pod.labels.get("version", ""),
            }
            procs.append(_spawn([sys.executable, "-c", SERVE], self.directory / f"{pod.name}.app.log", env))
        procs.append(self._envoy(pod, replica, token))
        self.processes[pod.name] = procs
        wait_for_port(pod.admin_port, timeout=30)

    def _envoy(self, pod: LoopbackPod, replica: ControllerThread, token: str) -> Any:
        bootstrap = build_bootstrap(
            pod.node_id,
            f"{pod.labels['app']}.{pod.namespace}",
            "127.0.0.1",
            replica.ctl.xds_port,
            pod.admin_port,
        )
        service = bootstrap["dynamic_resources"]["ads_config"]["grpc_services"][0]
        service["initial_metadata"] = [{"key": "authorization", "value": f"Bearer {token}"}]
        control_plane_telemetry(bootstrap, token)  # as pod_bootstrap: request logs to the controller
        path = self.directory / f"{pod.name}.bootstrap.json"
        path.write_text(json.dumps(bootstrap))
        argv = [
            str(find_envoy()),
            "-c",
            str(path),
            "--use-dynamic-base-id",
            "--concurrency",
            "1",
            "--log-level",
            "warning",
            "--drain-time-s",
            "1",
        ]
        return _spawn(argv, self.directory / f"{pod.name}.envoy.log")

    def move_sidecar(self, pod: LoopbackPod, replica: ControllerThread) -> None:
        """Restart the pod's Envoy against another replica (as after the old one went away)."""
        procs = self.processes[pod.name]
        _stop(procs[-1])
        wait_until(lambda: not _listening(pod.admin_port), 15, what="the old Envoy to go")
        procs[-1] = self._envoy(
            pod, replica, self.api.issue_token(pod.namespace, pod.service_account, pod=pod.name)
        )
        wait_for_port(pod.admin_port, timeout=30)

    def synced(self, replica: ControllerThread, node: str) -> bool:
        rows = replica.call(lambda c: c.sync.rows())
        return any(r["node_id"] == node and r["status"] == SYNCED for r in rows)

    def request(self, caller: LoopbackPod, url: str) -> tuple[int, dict[str, Any] | str]:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{caller.outbound_port}"})
        )
        try:
            with opener.open(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as err:
            return 0, str(err)

    def close(self) -> None:
        for procs in self.processes.values():
            for process in reversed(procs):
                _stop(process)
        for replica in self.replicas:
            replica.stop()

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.directory.glob("*.log"))
        )


def _listening(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.3):
        return True
    return False
