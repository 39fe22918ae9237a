"""What the running sidecars should hold for one explained request (the input of `explain --live`).

Owns `expected_sidecars(model, explanation) -> list[dict]`, computed with the generator's own
functions from the same model the explanation came from, one JSON-able row per sidecar to check:

- TCP/HTTP port: every instance serving the destination port, `{instance, node_id, side: "destination",
  port_name, expected_policies}` (the RBAC policy names `xds.rbac.inbound_access` gives its inbound
  port; none when access control is off);
- UDP port (no mTLS, so access is enforced by the caller): every instance with the caller's
  identity, `{instance, node_id, side: "caller", listener, stat_prefix, expects_listener}` (whether
  `mesh.udp.udp_upstreams` gives it the upstream listener of that port).

The control plane answers them with `GET /api/v1/explain` from the model in force; the CLI
computes them from files for `explain -f PATH --live`. Comparing them with what Envoy holds is the
CLI's part (`cli/explain_live.py`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from smimesh.mesh.explain import Explanation
from smimesh.mesh.model import Endpoint, Instance, MeshModel, Protocol, TcpUpstream
from smimesh.mesh.udp import udp_upstreams
from smimesh.xds import names
from smimesh.xds.rbac import inbound_access

DESTINATION_SIDE = "destination"
CALLER_SIDE = "caller"


def _destination_row(model: MeshModel, endpoint: Endpoint, protocol: Protocol) -> dict[str, Any] | None:
    instance = model.instance(endpoint.node_id)
    ports = instance.inbound if instance else ()
    inbound = next((p for p in ports if p.container_port == endpoint.container_port), None)
    if instance is None or inbound is None:
        return None
    access = inbound_access(model, endpoint.identity, inbound.name, endpoint.container_port, protocol)
    expected = sorted(r.policy for r in access.rules if r.matches != ()) if access.enforce else []
    return {
        "instance": instance.name,
        "node_id": endpoint.node_id,  # what the API finds the sidecar by (names repeat across namespaces)
        "side": DESTINATION_SIDE,
        "port_name": inbound.name,
        "expected_policies": expected,
    }


def _expects_listener(model: MeshModel, caller: Instance, result: Explanation) -> bool:
    """Whether the generator gives `caller` the UDP upstream of the explained port.

    An instance announces only the upstream ports the runtime allocated (none offline), so the
    caller is given this one port to announce and `udp_upstreams` decides, exactly as for the sidecar.
    """
    service = result.service
    announcing = dataclasses.replace(
        caller, tcp_upstreams=(TcpUpstream(service.namespace, service.name, result.port, 0),)
    )
    return bool(udp_upstreams(model, announcing))


def _caller_row(model: MeshModel, caller: Instance, result: Explanation) -> dict[str, Any]:
    return {
        "instance": caller.name,
        "node_id": caller.node_id,
        "side": CALLER_SIDE,
        "listener": names.udp_upstream_listener(result.service, result.port),
        "stat_prefix": names.udp_upstream_stat_prefix(result.service, result.port),
        "expects_listener": _expects_listener(model, caller, result),
    }


def expected_sidecars(model: MeshModel, result: Explanation) -> list[dict[str, Any]]:
    """One row per sidecar that enforces the explained request (see the module docstring)."""
    service = model.service(result.service)
    port = service.port(result.port) if service else None
    if port is None:
        return []
    if port.protocol is Protocol.UDP:
        callers = (i for i in model.instances.values() if i.identity == result.source)
        return [_caller_row(model, caller, result) for caller in sorted(callers, key=lambda i: i.name)]
    rows = (_destination_row(model, endpoint, port.protocol) for endpoint in port.endpoints)
    return [row for row in rows if row is not None]
