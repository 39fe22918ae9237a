"""The secured config `smimesh up` serves (mTLS, RBAC, SDS): for goldens, Envoy validation, the simulator.

Built through the very functions `up` plugs into its pipeline (`runtime.identity.MeshSecurity`:
`build_model`, `proxy_view`, `generate`), so these checks hold whatever produces the secured config
inside (issue 10 moves it into the generators).

- `SECURED_MODES`: the MeshConfig modes worth a golden: `strict` (the default: smi + strict mTLS),
  `permissive-audit` (mTLS permissive mesh-wide, namespace `bookstore` in audit), `open` (no RBAC).
- `SecuredWorld(run_dir, resources, modes)`: the model and every sidecar's config and SPIFFE id;
  `request(caller, host, ...)` follows a request over both hops: the caller's outbound, the chosen
  backend's endpoint, the server's inbound with the caller's certificate (refused when the server's
  identity is not one the caller's cluster accepts).
- `golden_data(config)`: `as_data` with the SDS secrets reduced to their names (keys differ per run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from smimesh.mesh import MeshModel
from smimesh.mesh.modes import DEFAULT_MODES, MeshModes, MtlsMode, NamespaceMode, TrafficPolicyMode
from smimesh.runtime.identity import MeshSecurity
from smimesh.settings import Settings
from smimesh.testing.bookstore import world, world_instances
from smimesh.testing.bookstore_edges import EDGE_CASES
from smimesh.testing.golden import as_data
from smimesh.testing.simulator import Outcome, Simulator
from smimesh.xds import type_urls

SECURED_MODES: dict[str, MeshModes] = {
    "strict": DEFAULT_MODES,
    "permissive-audit": MeshModes(
        mtls=MtlsMode.PERMISSIVE, namespaces=(NamespaceMode("bookstore", audit=True),)
    ),
    "open": MeshModes(traffic_policy=TrafficPolicyMode.OPEN),
}


@dataclass(frozen=True)
class Hop:
    """Where a mesh request ended: on `server`'s inbound listener (None: it never left the caller)."""

    server: str | None
    outcome: Outcome


class SecuredWorld:
    """Every sidecar's secured config for one set of resources, as `smimesh up` would serve it."""

    def __init__(self, run_dir: Path, resources: Sequence[Any], modes: MeshModes = DEFAULT_MODES) -> None:
        settings = Settings()
        self.security = MeshSecurity(run_dir, settings, modes=modes)
        instances = world_instances(resources)
        self.model: MeshModel = self.security.build_model(
            resources, instances, trust_domain=settings.trust_domain
        )
        self.configs = {
            node: self.security.generate(self.security.proxy_view(self.model, node))
            for node in sorted(self.model.instances)
        }

    def spiffe(self, node: str) -> str:
        instance = self.model.instances[node]
        return instance.identity.spiffe(self.model.trust_domain)

    def simulator(self, node: str) -> Simulator:
        return Simulator(self.configs[node])

    def _server_at(self, port: int) -> str | None:
        for node, config in self.configs.items():
            if any(x.address.socket_address.port_value == port for x in config[type_urls.LISTENER]):
                return str(node)
        return None

    def request(
        self,
        caller: str,
        host: str,
        path: str = "/",
        method: str = "GET",
        backend: str | None = None,
        **headers: str,
    ) -> Hop:
        """`method host path` from `caller`'s app through both sidecars (to `backend`, else the heaviest)."""
        sim = self.simulator(caller)
        first = sim.http(self.model.instances[caller].outbound_http_port, host, path, method, headers)
        if not first.forwarded:
            return Hop(None, first)
        cluster = backend or max(first.clusters, key=lambda pair: pair[1])[0]
        if not first.endpoints[cluster]:
            return Hop(None, Outcome(first.listener, status=503, body="(no healthy upstream)"))
        port = first.endpoints[cluster][0][1]
        server = self._server_at(port)
        if server is None:
            raise LookupError(f"no sidecar listens on port {port} (cluster {cluster})")
        peers = sim.upstream_peers(cluster)
        if peers is not None and self.spiffe(server) not in peers:
            closed = f"TLS handshake failed: server {self.spiffe(server)} is not one of {peers}"
            return Hop(server, Outcome(first.listener, closed=closed))
        peer = None if peers is None else self.spiffe(caller)
        return Hop(server, self.simulator(server).http(port, host, path, method, headers, peer=peer))


def world_resources(name: str) -> list[Any]:
    """The resources of the bookstore world (`bookstore`) or of one of its edge cases."""
    if name == "bookstore":
        return world()
    extra, replaced = EDGE_CASES[name]
    return world(extra, replace=replaced)


def golden_data(config: Mapping[str, Sequence[Message]]) -> dict[str, list[Any]]:
    """Plain data for a golden: certificates and keys differ per run, so secrets keep only their names."""
    data = as_data({t: items for t, items in config.items() if t != type_urls.SECRET})
    names = sorted(secret.name for secret in config.get(type_urls.SECRET, ()))
    data[type_urls.short_name(type_urls.SECRET)] = [{"name": name} for name in names]
    return data
