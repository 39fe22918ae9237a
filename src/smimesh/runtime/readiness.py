"""Is an instance ready? Ready means traffic to it can flow: its callers' sidecars hold its endpoint.

Owns `Readiness`, the one definition of "ready" that `smimesh status`, the API and the `up`
console share. An instance is ready when, in this order (the first failing step is the reason):
1. its app and its sidecar run, and the app accepts connections on its ports;
2. its own sidecar is connected and has accepted (ACKed) its latest config;
3. the pipeline has published config computed with it as an endpoint (the readiness gate of
   `runtime.reconcile` adds it only once it serves);
4. every sidecar whose config holds its endpoint (its inbound listener's address, in EDS or in a
   static cluster) is connected and has ACKed that config (a sidecar whose process is down is
   skipped: it sends nothing until it is back with its config).
"running and SYNCED" alone is not enough: between the app's first accepted connection and the
callers' ACK there is a rebuild and a push, and a request in that window gets 503 "no healthy
upstream". A reason is a phrase for the console, naming the app or the sidecars, whichever it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from google.protobuf import any_pb2

from smimesh.local.supervisor import RunningInstance, Supervisor
from smimesh.server.sync import DISCONNECTED, ERROR, NACKED, SYNCED
from smimesh.settings import LOOPBACK
from smimesh.xds import type_urls
from smimesh.xds.snapshot import Snapshot

_SHOWN_CALLERS = 3  # callers named in a reason; the rest are counted
_PORTS_CACHE_MAX = 50_000


def acked_latest(cache: Any, sync: Any, node_id: str) -> bool | None:
    """Whether the node's sidecar has ACKed every type of the snapshot now in the cache for it;
    None when it is not connected (or has no snapshot): there is nothing it could have ACKed."""
    snapshot, proxy = cache.get_snapshot(node_id), sync.get(node_id)
    if snapshot is None or proxy is None or proxy.streams == 0:
        return None
    held = snapshot.type_urls()
    return all(
        state.acked_version == snapshot.version(url) for url, state in proxy.types.items() if url in held
    )


class Readiness:
    """`reasons()` -> {node id: "" when ready, else why not}; `pipeline.published_instances` is step 3."""

    def __init__(self, supervisor: Supervisor, pipeline: Any, cache: Any, sync: Any) -> None:
        self.supervisor, self.pipeline, self.cache, self.sync = supervisor, pipeline, cache, sync
        self._ports: dict[str, frozenset[int]] = {}  # entry digest -> loopback ports it names
        self._held: dict[str, tuple[Snapshot, set[int]]] = {}  # node -> (its snapshot, ports it sends to)

    def reasons(self) -> dict[str, str]:
        running = self.supervisor.running
        published = {i.node_id: i for i in self.pipeline.published_instances}
        holders = self._endpoint_holders(_sidecars_down(running))
        return {run.spec.node_id: self._reason(run, published, holders) for run in running}

    def _reason(self, run: RunningInstance, published: dict[str, Any], holders: dict[int, set[str]]) -> str:
        node_id = run.spec.node_id
        reason = _process_reason(run) or self._sync_reason(node_id)
        if reason:
            return reason
        instance = published.get(node_id)
        if instance is None or dict(instance.labels) != dict(run.spec.workload.labels):
            return "its endpoint is not in the published config yet"
        callers = set().union(*(holders.get(port, set()) for port in run.ports.inbound.values()))
        behind = sorted(c for c in callers if not acked_latest(self.cache, self.sync, c))
        refused = [c for c in behind if self.sync.status(c) == NACKED]
        if refused:
            return f"the sidecars of {_some(refused)} refused their config (see `smimesh proxy-status`)"
        return f"its endpoint has not reached the sidecars of {_some(behind)} yet" if behind else ""

    def _sync_reason(self, node_id: str) -> str:
        status = self.sync.status(node_id)
        if status == DISCONNECTED:
            return "sidecar not connected to the control plane"
        if status == NACKED:
            return f"sidecar refused its config: {self.sync.get(node_id).nack_message}"
        if status == ERROR:
            return f"its config could not be generated: {self.sync.get(node_id).generation_error}"
        if status != SYNCED or not acked_latest(self.cache, self.sync, node_id):
            return "sidecar has not accepted its latest config yet"
        return ""

    def _endpoint_holders(self, down: set[str]) -> dict[int, set[str]]:
        """Loopback port -> the nodes whose current config sends traffic to that address. A sidecar
        whose process is `down` sends nothing until it is back, and it listens again only after
        it has its config (CDS and EDS come before its listeners): it is nobody's caller meanwhile."""
        holders: dict[int, set[str]] = {}
        nodes = self.cache.node_ids()
        for node_id in (n for n in nodes if n not in down):
            snapshot = self.cache.get_snapshot(node_id)
            for port in self._held_ports(node_id, snapshot) if snapshot is not None else ():
                holders.setdefault(port, set()).add(node_id)
        for gone in set(self._held) - set(nodes):
            del self._held[gone]
        return holders

    def _held_ports(self, node_id: str, snapshot: Snapshot) -> set[int]:
        """`_snapshot_ports`, computed again only when the node's snapshot is a new one."""
        held = self._held.get(node_id)
        if held is None or held[0] is not snapshot:
            held = self._held[node_id] = (snapshot, self._snapshot_ports(snapshot))
        return held[1]

    def _snapshot_ports(self, snapshot: Snapshot) -> set[int]:
        ports: set[int] = set()
        for type_url in (type_urls.ENDPOINT, type_urls.CLUSTER):
            for entry in snapshot.entries(type_url).values():
                if entry.digest not in self._ports:
                    if len(self._ports) > _PORTS_CACHE_MAX:
                        self._ports.clear()
                    self._ports[entry.digest] = _loopback_ports(type_url, entry.resource)
                ports |= self._ports[entry.digest]
        return ports


def _sidecars_down(running: list[RunningInstance]) -> set[str]:
    """Nodes whose sidecar process is not serving (starting, restarting after a crash, stopped)."""
    return {r.spec.node_id for r in running if r.sidecar is not None and r.sidecar.status.state != "running"}


def _process_reason(run: RunningInstance) -> str:
    app, sidecar = run.app.status, run.sidecar.status if run.sidecar is not None else None
    if app.state == "backoff":
        return f"app {app.last_exit}; restarting (restart {app.restarts}; `smimesh logs {run.spec.name}`)"
    if app.state != "running":
        return f"app {app.note}" if app.note else f"app {app.state}"
    if sidecar is not None and sidecar.state == "backoff":
        return f"sidecar {sidecar.last_exit}; restarting (`smimesh logs {run.spec.name} --sidecar`)"
    if sidecar is not None and sidecar.state != "running":
        return f"sidecar {sidecar.state}"
    return ""


def _some(nodes: list[str]) -> str:
    """The first few node ids, and how many more."""
    more = f" and {len(nodes) - _SHOWN_CALLERS} more" if len(nodes) > _SHOWN_CALLERS else ""
    return ", ".join(nodes[:_SHOWN_CALLERS]) + more


def _loopback_ports(type_url: str, packed: any_pb2.Any) -> frozenset[int]:
    """The loopback ports an EDS assignment (or a static cluster's assignment) sends traffic to."""
    assignment = endpoint_pb2.ClusterLoadAssignment()
    if type_url == type_urls.CLUSTER:
        cluster = cluster_pb2.Cluster()
        packed.Unpack(cluster)
        assignment = cluster.load_assignment
    else:
        packed.Unpack(assignment)
    return frozenset(
        _ports_of(lb.endpoint.address.socket_address for e in assignment.endpoints for lb in e.lb_endpoints)
    )


def _ports_of(addresses: Iterable[Any]) -> frozenset[int]:
    return frozenset(a.port_value for a in addresses if a.address == LOOPBACK)
