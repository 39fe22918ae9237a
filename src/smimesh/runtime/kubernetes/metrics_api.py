"""The SMI metrics API of a controller replica (`ControllerConfig.api_addr`): its telemetry scrapes the
sidecars of the pods it knows (an injected pod's through its health port) and the API app serves
`/apis/metrics.smi-spec.io/v1alpha1/...` over what it collected, as `smimesh up` does locally, and the
read paths the CLI uses through the kubeconfig (resources, status, proxies, explain, tap, policy suggest,
the dashboard; `cli/_cluster.py`).
Reads only: the app's write paths need a token nobody is given (`secrets.token_hex`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from smimesh.api.app import create_app
from smimesh.api.serve import ApiServer
from smimesh.mesh.model import MeshModel
from smimesh.settings import Settings
from smimesh.sources.store import ResourceStore
from smimesh.telemetry.edges import Topology
from smimesh.telemetry.service import Telemetry


def telemetry_for(model: Callable[[], MeshModel | None], settings: Settings) -> Telemetry:
    # One topology per model rebuild. The model itself is kept beside its topology, so a new model is
    # never mistaken for the last one (an id() could be reused once the old model is freed).
    last_model: MeshModel | None = None
    last_topology = Topology()

    def topology() -> Topology:
        nonlocal last_model, last_topology
        current = model()
        if current is None:
            return Topology()
        if last_model is not current:
            last_model, last_topology = current, Topology.from_model(current)
        return last_topology

    return Telemetry(topology, settings)


async def serve_metrics(
    store: ResourceStore, telemetry: Telemetry, addr: str, sync: Any, **reads: Any
) -> ApiServer:
    """`reads`: more read paths' callbacks for `create_app` (`status`, `explain`, `observe`: tap,
    observed calls, policy suggest and the dashboard, runtime/observe.py)."""
    app = create_app(
        store,
        token=secrets.token_hex(32),
        sync_state=sync,
        metrics_query=telemetry.query,
        reads_from_anywhere=True,  # the API server's service proxy calls from the pod network
        **reads,
    )
    server = ApiServer(app, addr)
    await server.start()
    return server
