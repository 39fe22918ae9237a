"""Keeping the running workload instances in step with the Workloads in the store.

Readiness gate: an instance is an endpoint of its Services only while its app and sidecar run and
accept connections; a new replica gets traffic once it serves, a crashed one stops getting it.

On every store change: the desired instances are derived from the Workloads, their ports are
allocated and published to the pipeline FIRST (a new sidecar finds its config ready when it
connects), and only then are processes started, stopped or restarted. On a scale-down the leaving
instances' endpoints are withdrawn and the staying sidecars get a bounded moment to ACK that before
the processes stop (make-before-break: callers stop sending before the endpoint goes away).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smimesh.errors import SmimeshError
from smimesh.local.env import parse_upstream_key
from smimesh.local.instances import desired_from_snapshot, mesh_instance, tcp_upstream_keys
from smimesh.local.plan import InstanceSpec, WorkloadSpec, desired_instances
from smimesh.local.ports import InstancePorts
from smimesh.local.supervisor import Supervisor
from smimesh.runtime.readiness import acked_latest

DRAIN_MAX_S = 5.0  # longest wait for sidecars to drop endpoints of instances about to stop


def new_upstreams_message(added: list[str]) -> str:
    """What `up` says when non-HTTP service ports appear after start (keys of `tcp_upstream_keys`).

    Running apps keep the variables they started with, so the message names the variable families
    and the status fields (`tcp_upstreams`, `udp_upstreams`) where their local ports are shown.
    """
    kinds = sorted({"UDP" if parse_upstream_key(key)[3] else "TCP" for key in added})
    variables = " / ".join(f"SMIMESH_{kind}_*" for kind in kinds)
    fields = ", ".join(f"{kind.lower()}_upstreams" for kind in kinds)
    return (
        f"new non-HTTP upstream(s) {', '.join(added)}: instances started from now on get their "
        f"{variables} variables; running ones reach them at the local ports that "
        f"`smimesh status -o json` shows ({fields})"
    )


class WorkloadReconciler:
    """`await run(store, directory)` until cancelled; `first_done` is set after the first pass."""

    def __init__(
        self,
        supervisor: Supervisor,
        pipeline: Any,
        cache: Any,
        sync: Any,
        say: Callable[[str], None],
        extra: tuple[WorkloadSpec, ...] = (),
    ) -> None:
        self.supervisor, self.pipeline, self.cache, self.sync = supervisor, pipeline, cache, sync
        self.extra = extra  # Workloads the runtime adds itself (the ingress proxy), not from manifests
        self.say = say
        self.first_done = asyncio.Event()
        self._planned: list[tuple[InstanceSpec, InstancePorts]] = []
        self._tcp_keys: list[str] = []
        self._published: list[Any] | None = None
        supervisor.on_change = self.publish  # readiness changed: endpoints follow

    async def run(self, store: Any, directory: Path) -> None:
        async for _change in store.subscribe():
            try:
                await self.reconcile(store.snapshot(), directory)
            except SmimeshError as exc:  # one bad Workload must not stop the loop
                self.say(f"error: {exc.message}")
            self.first_done.set()

    async def reconcile(self, snapshot: Any, directory: Path) -> None:
        desired = desired_from_snapshot(snapshot, directory) | desired_instances(self.extra)
        keys = tcp_upstream_keys(snapshot)
        self.supervisor.tcp_upstreams = keys
        self._announce_new_upstreams(keys)
        self._planned, self._tcp_keys = self.supervisor.allocate(desired), keys
        before = {run.spec.node_id for run in self.supervisor.running}
        self.pipeline.built.clear()
        self.publish()
        if before - set(desired):
            await self._drain(set(desired) & before)
        for node_id, changed in sorted(self.supervisor.relaunches(desired).items()):
            self.say(f"restarting {node_id}: its Workload changed ({', '.join(changed)})")
        running = await self.supervisor.reconcile(desired)
        self._announce(before, {run.spec.node_id for run in running})

    def publish(self) -> None:
        """Tell the pipeline every planned instance; only serving ones are endpoints (see mesh_instance)."""
        instances = [
            mesh_instance(spec, ports, self._tcp_keys, serving=self.supervisor.serving(spec.node_id))
            for spec, ports in self._planned
        ]
        if instances != self._published:  # a state change that changes nothing costs no rebuild
            self._published = instances
            self.pipeline.set_instances(instances)

    async def _drain(self, staying: set[str]) -> None:
        """Wait (bounded) for the rebuild and for the staying sidecars to ACK it."""
        deadline = time.monotonic() + DRAIN_MAX_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pipeline.built.wait(), DRAIN_MAX_S)
        while time.monotonic() < deadline:  # polled: sync state has no change event to wait on
            if all(self._acked_latest(node) for node in staying):
                return
            await asyncio.sleep(0.02)

    def _acked_latest(self, node_id: str) -> bool:
        """The connected sidecar has ACKed its latest snapshot (a disconnected one gets the latest
        when it connects: nothing to wait for)."""
        return acked_latest(self.cache, self.sync, node_id) is not False

    def _announce_new_upstreams(self, keys: list[str]) -> None:
        """Environment variables are fixed at start: say how running instances reach a new service port."""
        added = sorted(set(keys) - set(self._tcp_keys))
        if added and self.supervisor.running:
            self.say(new_upstreams_message(added))

    def _announce(self, before: set[str], after: set[str]) -> None:
        if not before:
            return  # the start-up summary lists them
        for node_id in sorted(after - before):
            self.say(f"started {node_id}")
        for node_id in sorted(before - after):
            self.say(f"stopped {node_id}")
