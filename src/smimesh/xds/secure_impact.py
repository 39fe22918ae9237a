"""Which SECURED views a model change can affect: `secure_view`'s counterpart of `mesh.impact`.

Owns `secure_affected_nodes(old, new)`: the node ids whose `xds.security.secure_view` may differ
between two successive models (a superset, never one too few), or None when every view may differ.
The certificate side (a leaf renewed, the trust bundle or the modes changed) is not in the model:
`runtime.identity.MeshSecurity.affected` adds it.

What a secured view of node n (identity I) reads from the model, by field of `SecureView`:
- `base`: the plain view over the OPEN copy of the model (every service visible), so it depends on
  n's own instance, its ports' inbound protocols and EVERY service and split (a Service, endpoint or
  split change therefore affects every proxy: None); its UDP upstreams follow the real policies
  naming I as a source (`mesh.udp.changed_udp_sources`);
- `inbound_access`: the policies whose destination is I, in model order (RBAC is inbound-side: a
  TrafficTarget change affects only its destination's instances, old and new destination);
- `upstream_peers`: the endpoint identities of the services (covered by "a service changed");
- `own`, `mtls`, `bundle`: n's identity, the modes and the certificate book (not in the model).
"""

from __future__ import annotations

from collections import defaultdict

from smimesh.mesh.access import TrafficPolicy
from smimesh.mesh.impact import _changed_inbound, _changed_keys, _changed_services
from smimesh.mesh.model import Identity, MeshModel
from smimesh.mesh.udp import changed_udp_sources


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


def secure_affected_nodes(old: MeshModel, new: MeshModel) -> frozenset[str] | None:
    """The node ids of `new` whose secured view may differ from the one over `old`; None: all."""
    settings = (old.trust_domain, old.cluster_domain, old.permissive, old.semantics)
    if settings != (new.trust_domain, new.cluster_domain, new.permissive, new.semantics):
        return None
    edges = (old.resilience, old.ingress, old.egress, old.egress_open)
    if edges != (new.resilience, new.ingress, new.egress, new.egress_open):
        return None  # rare (a policy edit): recompute every view rather than index who sees it
    if _changed_services(old, new):
        return None  # every sidecar routes to every service and checks its peers' identities
    identities = changed_destinations(old, new) | changed_udp_sources(old, new)
    nodes = _changed_keys(old.instances, new.instances) | _changed_inbound(old, new)
    nodes.update(node for node, instance in new.instances.items() if instance.identity in identities)
    return frozenset(node for node in nodes if node in new.instances)
