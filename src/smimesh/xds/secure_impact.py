"""Which SECURED views a model change can affect: `secure_view`'s counterpart of `mesh.impact`.

Owns `secure_affected_nodes(old, new, open_namespaces)`: the node ids whose
`xds.security.secure_view` may differ between two successive models (a superset, never one too
few), or None when every view may differ. The certificate side (a leaf renewed, the trust bundle
or the modes changed) is not in the model: `runtime.identity.MeshSecurity.affected` adds it.

What a secured view of node n (identity I) reads from the model, by field of `SecureView`:
- `base`: the plain view with real visibility plus the services of the audit namespaces
  (`open_namespaces`), so exactly what `mesh.impact.affected_nodes(old, new, open_namespaces)`
  indexes: n's instance, its inbound protocols, reach(I), the services and splits it sees (a
  changed service reaches the callers of its related set; one related to an audit namespace's
  service reaches everyone), its UDP upstreams;
- `inbound_access`: the policies whose destination is I, in model order (RBAC is inbound-side: a
  TrafficTarget change also reaches its old and new destination's instances);
- `upstream_peers`: the endpoint identities of the services n sees (covered by "a changed service
  reaches its callers");
- `own`, `mtls`, `bundle`: n's identity, the modes and the certificate book (not in the model).
A caller's answer for a service it may not reach is its own sidecar's 403, the same for every
service (`xds.routes.unknown_host_vhost`): no change of a service it cannot reach touches it.
"""

from __future__ import annotations

from collections import defaultdict

from smimesh.mesh.access import TrafficPolicy
from smimesh.mesh.impact import _changed_keys, affected_nodes
from smimesh.mesh.model import Identity, MeshModel


def _by_destination(policies: tuple[TrafficPolicy, ...]) -> dict[Identity, tuple[TrafficPolicy, ...]]:
    """Each destination's policies in model order (the order `inbound_access` reads them in)."""
    found: dict[Identity, list[TrafficPolicy]] = defaultdict(list)
    for policy in policies:
        found[policy.destination].append(policy)
    return {destination: tuple(each) for destination, each in found.items()}


def changed_destinations(old: MeshModel, new: MeshModel) -> set[Identity]:
    """The identities whose inbound access input may differ: destinations of changed policies."""
    if old.policies is new.policies or old.policies == new.policies:
        return set()
    return _changed_keys(_by_destination(old.policies), _by_destination(new.policies))


def secure_affected_nodes(
    old: MeshModel, new: MeshModel, open_namespaces: frozenset[str] = frozenset()
) -> frozenset[str] | None:
    """The node ids of `new` whose secured view may differ from the one over `old`; None: all.
    `open_namespaces`: the namespaces in audit mode (what `secure_view` passes to `proxy_view`)."""
    nodes = affected_nodes(old, new, open_namespaces)
    if nodes is None:
        return None
    destinations = changed_destinations(old, new)
    if not destinations:
        return nodes
    return nodes | {node for node, instance in new.instances.items() if instance.identity in destinations}
