"""The supervisor: makes the running workload instances (and their sidecars) match the desired set.

Owns every child process of `smimesh up`. `reconcile(desired)` starts instances that should run
and do not, stops those that should not run any more (scaled down or deleted), and restarts an
instance whose Workload changed (command, env, ports...). Each instance is two supervised
processes: its Envoy sidecar (when a sidecar launcher is given) and the workload itself. Ports stay
with an instance for its whole life, so restarts do not move endpoints.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smimesh.local.backoff import Backoff
from smimesh.local.env import UDP_KEY_SUFFIX, command_line, env_name, workload_environment
from smimesh.local.guardian import Guardian
from smimesh.local.plan import InstanceSpec, launch_changes
from smimesh.local.ports import InstancePorts, PortAllocator
from smimesh.local.processes import ChildProcess, wait_listening
from smimesh.local.readiness import wait_serving
from smimesh.local.rundir import RunDir
from smimesh.local.supervised import Announce, Explain, Ready, Supervised
from smimesh.settings import LOOPBACK, Settings

SIDECAR_READY_WAIT_S = 10.0  # an app waits at most this long for its sidecar before starting anyway

# (instance, its ports) -> the sidecar's argv (after writing whatever files it needs)
SidecarCommand = Callable[[InstanceSpec, InstancePorts], Sequence[str]]


@dataclass(slots=True)
class RunningInstance:
    spec: InstanceSpec
    ports: InstancePorts
    app: Supervised
    sidecar: Supervised | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def serving(self) -> bool:
        return all(process.status.state == "running" for process in self.processes())

    def processes(self) -> list[Supervised]:
        return [p for p in (self.sidecar, self.app) if p is not None]

    def to_dict(self, run_dir: RunDir, tcp_keys: Sequence[str] = ()) -> dict[str, Any]:
        spec = self.spec
        return {
            "instance": spec.name,
            "namespace": spec.namespace,
            "workload": spec.workload.name,
            "node_id": spec.node_id,
            **self.app.status.to_dict(),
            "sidecar": self.sidecar.status.to_dict() if self.sidecar else None,
            "admin": f"{LOOPBACK}:{self.ports.admin}",
            "http_proxy": f"http://{LOOPBACK}:{self.ports.outbound_http}",
            "ports": dict(self.ports.app),
            **upstream_addresses(self.ports, tcp_keys),
            "log": str(run_dir.log_path(spec.namespace, spec.name)),
        }


def upstream_addresses(ports: InstancePorts, keys: Sequence[str]) -> dict[str, dict[str, str]]:
    """`tcp_upstreams` and `udp_upstreams` of a status row: `svc.ns:port` -> the local address.

    Both kinds share one port table (keys of UDP ports end in `/udp`); the status shows them apart,
    each under its own field, without the suffix.
    """
    split: dict[str, dict[str, str]] = {"tcp_upstreams": {}, "udp_upstreams": {}}
    for key, port in ports.tcp_upstreams.items():
        if key in keys:
            field_name = "udp_upstreams" if key.endswith(UDP_KEY_SUFFIX) else "tcp_upstreams"
            split[field_name][key.removesuffix(UDP_KEY_SUFFIX)] = f"{LOOPBACK}:{port}"
    return split


class Supervisor:
    def __init__(
        self,
        run_dir: RunDir,
        *,
        settings: Settings,
        announce: Announce,
        sidecar_command: SidecarCommand | None = None,
        ports: PortAllocator | None = None,
        tcp_upstreams: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
        grace_s: float = 3.0,
        guardian: Guardian | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.settings = settings
        self.ports = ports or PortAllocator()
        self.tcp_upstreams = list(tcp_upstreams)
        self._announce = announce
        self._sidecar_command = sidecar_command
        self._environ = dict(os.environ if environ is None else environ)
        self._grace_s = grace_s
        self._guardian = guardian
        self._running: dict[str, RunningInstance] = {}
        self.on_change: Callable[[], None] | None = None  # any process changed state
        self._lock = asyncio.Lock()

    @property
    def running(self) -> list[RunningInstance]:
        return sorted(self._running.values(), key=lambda r: (r.spec.namespace, r.spec.name))

    def allocate(self, desired: Mapping[str, InstanceSpec]) -> list[tuple[InstanceSpec, InstancePorts]]:
        """The ports every desired instance will have (allocating new ones), without starting anything.

        The runtime publishes these to the control plane first, so a sidecar finds its config ready.
        """
        return [
            (spec, self.ports.for_instance(key, spec.port_names, self.tcp_upstreams))
            for key, spec in sorted(desired.items())
        ]

    async def reconcile(self, desired: Mapping[str, InstanceSpec]) -> list[RunningInstance]:
        """Start, stop and restart instances so that exactly `desired` (by node id) runs.

        An instance restarts only when what it runs changed (command, env, ports, labels...), not
        when only its Workload's replica count did: scaling never disturbs the replicas that stay.
        """
        async with self._lock:
            gone = [key for key, run in self._running.items() if not _same_launch(desired.get(key), run.spec)]
            await asyncio.gather(*(self._stop_instance(key, forget=key not in desired) for key in gone))
            for key, spec in desired.items():
                if key in self._running:
                    self._running[key].spec = spec  # same launch; keep the newest spec for status
                else:
                    self._running[key] = self._start_instance(spec)
            return self.running

    def relaunches(self, desired: Mapping[str, InstanceSpec]) -> dict[str, list[str]]:
        """The running instances `reconcile(desired)` will restart, each with what changed in its Workload."""
        return {
            key: launch_changes(run.spec.workload, desired[key].workload)
            for key, run in self._running.items()
            if key in desired and not _same_launch(desired[key], run.spec)
        }

    async def stop_all(self) -> None:
        async with self._lock:
            await asyncio.gather(*(self._stop_instance(key, forget=True) for key in list(self._running)))

    def kill_all_now(self) -> None:
        for run in self._running.values():
            for process in run.processes():
                process.kill_now()

    def status(self) -> list[dict[str, Any]]:
        return [run.to_dict(self.run_dir, self.tcp_upstreams) for run in self.running]

    def find(self, name: str) -> RunningInstance | None:
        """An instance by node id, instance name, or workload name (its first instance)."""
        for run in self.running:
            if name in (run.spec.node_id, run.spec.name):
                return run
        return next((run for run in self.running if run.spec.workload.name == name), None)

    def admin_address(self, name: str) -> str | None:
        run = self.find(name)
        return f"{LOOPBACK}:{run.ports.admin}" if run else None

    def _start_instance(self, spec: InstanceSpec) -> RunningInstance:
        ports = self.ports.for_instance(spec.node_id, spec.port_names, self.tcp_upstreams)
        sidecar_up = _listening([ports.outbound_http], SIDECAR_READY_WAIT_S)
        app_up = _serving(list(ports.app.values()))
        ready = sidecar_up if self._sidecar_command is not None else None
        app = self._supervised(
            spec.name,
            self._app_launch(spec, ports),
            ready=ready,
            probe=app_up,
            not_serving=_not_listening(spec, ports, self.settings.not_listening_after_s),
        )
        run = RunningInstance(spec, ports, app=app)
        if self._sidecar_command is not None:
            launch = self._sidecar_launch(spec, ports)
            run.sidecar = self._supervised(f"{spec.name} sidecar", launch, probe=sidecar_up)
        for process in run.processes():
            process.start()
        return run

    async def _stop_instance(self, key: str, *, forget: bool) -> None:
        run = self._running[key]
        await run.app.stop()  # the app first: its sidecar still serves its last requests
        if run.sidecar is not None:
            await run.sidecar.stop()
        self._running.pop(key, None)  # only now: a cancelled stop leaves it to stop_all
        if forget:
            self.ports.forget(key)

    def _supervised(
        self,
        label: str,
        launch: Callable[[], Any],
        *,
        ready: Ready | None = None,
        probe: Ready | None = None,
        not_serving: Explain | None = None,
    ) -> Supervised:
        backoff = Backoff(self.settings.restart_backoff_initial_s, self.settings.restart_backoff_max_s)
        return Supervised(
            label,
            launch,
            backoff,
            self._announce,
            self._grace_s,
            ready=ready,
            probe=probe,
            on_state=self._state_changed,
            not_serving=not_serving,
            not_serving_after_s=self.settings.not_listening_after_s,
        )

    def _state_changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def serving(self, node_id: str) -> bool:
        """The instance's app (and sidecar) run and accept connections: it may receive traffic."""
        run = self._running.get(node_id)
        return run is not None and run.serving

    def _app_launch(self, spec: InstanceSpec, ports: InstancePorts) -> Callable[[], Any]:
        def launch() -> Any:
            env = workload_environment(spec, ports, self._environ)
            log = self.run_dir.log_path(spec.namespace, spec.name)
            return ChildProcess.spawn(
                spec.name,
                command_line(spec, env),
                cwd=spec.workload.cwd,
                env=env,
                log_path=log,
                guardian=self._guardian,
                stderr_tail_lines=self.settings.stderr_tail_lines,
            )

        return launch

    def _sidecar_launch(self, spec: InstanceSpec, ports: InstancePorts) -> Callable[[], Any]:
        assert self._sidecar_command is not None
        command = self._sidecar_command

        def launch() -> Any:
            argv = command(spec, ports)
            log = self.run_dir.log_path(spec.namespace, spec.name, sidecar=True)
            return ChildProcess.spawn(
                f"{spec.name} sidecar",
                argv,
                cwd=self.run_dir.path,
                env=self._environ,
                log_path=log,
                guardian=self._guardian,
            )

        return launch


def _listening(ports: list[int], timeout_s: float = float("inf")) -> Ready:
    """A probe: every port accepts TCP connections (waits at most `timeout_s`)."""

    async def probe() -> None:
        for port in ports:
            await wait_listening(LOOPBACK, port, timeout_s)

    return probe


def _serving(ports: list[int]) -> Ready:
    """The app's probe: every port accepts TCP connections or has a bound UDP socket (a UDP app)."""

    async def probe() -> None:
        for port in ports:
            await wait_serving(LOOPBACK, port, float("inf"))

    return probe


def _not_listening(spec: InstanceSpec, ports: InstancePorts, after_s: float) -> Explain:
    """Why an app is still `starting`: the ports it was given (and their variables) that it does not
    serve on. The app chooses nothing: it must listen on $HOST:$PORT (and $PORT_<NAME>)."""

    async def explain() -> str:
        given = [_given_port(spec, ports, index) for index in range(len(spec.workload.ports))]
        missing = [text for number, text in given if not await wait_serving(LOOPBACK, number, 0)]
        if not missing:
            return ""  # it just began to: nothing to report
        return (
            f"is not listening on {', '.join(missing)} after {after_s:g} s: the mesh sends its traffic "
            f"there; make the app listen on $HOST:$PORT (see `smimesh logs {spec.name}`)"
        )

    return explain


def _given_port(spec: InstanceSpec, ports: InstancePorts, index: int) -> tuple[int, str]:
    """(the app port, how to name it to a user: `127.0.0.1:40123 ($PORT, containerPort 8080)`)."""
    port, name = spec.workload.ports[index], spec.port_names[index]
    number = ports.app[name]
    variable = "$PORT" if index == 0 else f"${env_name('PORT', name)}"
    protocol = "UDP " if port.protocol == "UDP" else ""
    return number, f"{protocol}{LOOPBACK}:{number} ({variable}, containerPort {port.container_port})"


def _same_launch(new: InstanceSpec | None, old: InstanceSpec) -> bool:
    return new is not None and new.launch_key == old.launch_key
