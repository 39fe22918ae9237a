"""Where the observatory gets the sidecars' request records, and how it switches a tap on.

Owns the two `RequestSource`s (`runtime/observe.py` uses one; everything after them is shared):

- `LogFiles` (`smimesh up`): each local sidecar writes its request log to its log file
  (`<run>/logs/<ns>/<instance>.envoy.log`), tailed here (`telemetry.requests.LogTail`); a tap is
  switched on through the sidecar's admin endpoint on loopback (`POST /runtime_modify?smimesh.tap=100`),
  told again every `REASSERT_S` (a restarted Envoy forgets its admin runtime values);
- `ControlPlaneLogs` (`smimesh controller`): a pod's sidecar sends its records over gRPC to the
  controller (`telemetry.log_service.RequestLogService`); a tap is switched on in the sidecar's RTDS
  layer (`server.runtime_layer.RuntimeLayers`), which Envoy keeps across reconnections. Neither needs
  to reach into a pod: the sidecar calls the controller, as for its xDS.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx

from smimesh.mesh.model import MeshModel
from smimesh.server.runtime_layer import RuntimeLayers
from smimesh.telemetry.log_service import RequestLogService
from smimesh.telemetry.requests import LogTail, RequestEvent
from smimesh.xds.access_log import TAP_RUNTIME_KEY

REASSERT_S = 5.0
TAPPED = {TAP_RUNTIME_KEY: 100}


class RequestSource(Protocol):
    def read(self, model: MeshModel) -> list[RequestEvent]: ...

    async def switch(self, model: MeshModel, wanted: set[str]) -> None:
        """Request logs on for exactly the sidecars (node ids) in `wanted`, off for the others."""

    async def close(self) -> None: ...


class LogFiles:
    """See the module docstring."""

    def __init__(self, log_path: Callable[[str, str], Path]) -> None:
        self.log_path = log_path
        self.tail = LogTail()
        self._switched: dict[str, float] = {}  # node id -> when its request log was last switched on
        self._client: httpx.AsyncClient | None = None

    def read(self, model: MeshModel) -> list[RequestEvent]:
        return self.tail.read({n: self.log_path(i.namespace, i.name) for n, i in model.instances.items()})

    async def switch(self, model: MeshModel, wanted: set[str]) -> None:
        now = time.monotonic()
        for node_id in wanted:
            if now - self._switched.get(node_id, -REASSERT_S) >= REASSERT_S:
                await self._set(model, node_id, 100)
                self._switched[node_id] = now
        for node_id in set(self._switched) - wanted:
            await self._set(model, node_id, 0)
            del self._switched[node_id]

    async def _set(self, model: MeshModel, node_id: str, percent: int) -> None:
        instance = model.instances.get(node_id)
        if instance is None or not instance.admin_port:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=2.0)
        url = f"http://{instance.host}:{instance.admin_port}/runtime_modify"
        with contextlib.suppress(httpx.HTTPError):  # a sidecar that is down is told on its return
            await self._client.post(url, params={TAP_RUNTIME_KEY: str(percent)})

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class ControlPlaneLogs:
    """See the module docstring."""

    def __init__(self, service: RequestLogService, layers: RuntimeLayers) -> None:
        self.service, self.layers = service, layers
        self._switched: set[str] = set()

    def read(self, model: MeshModel) -> list[RequestEvent]:
        return self.service.drain()

    async def switch(self, model: MeshModel, wanted: set[str]) -> None:
        for node_id in wanted - self._switched:
            self.layers.set_values(node_id, TAPPED)
        for node_id in self._switched - wanted:
            self.layers.set_values(node_id, {})
        self._switched = set(wanted)

    async def close(self) -> None:
        for node_id in self._switched:
            self.layers.set_values(node_id, {})
        self._switched = set()
