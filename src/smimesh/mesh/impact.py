"""Which proxies a change can affect: the index from a model change to the views it may change.

`affected_nodes(old, new)` compares two successive models and returns the node ids whose
`proxy_view` may differ between them (a superset: never one too few), or None when every view may
differ (the trust domain, cluster domain, permissive mode or access semantics changed). The
pipeline then computes views only for those nodes, so a change nobody can see costs no view at
all, and a change to one service costs the views of its callers, however many other services and
proxies the mesh has.

A plain view (`view.proxy_view`) of a sidecar running as identity I depends on: its own instance and
the inbound protocols of its ports; reach(I) (the identities I may call); and, for each service k
in its outbound set, k's Service value and splits. k is in I's outbound set in a model M only if
some t in T_M(k) = {k} + backends(k) + roots(k) + backends(roots(k)) has an endpoint identity in
reach(I) or lives in an open namespace (k direct; k a split root over a direct backend; k a
backend of a visible root). So a changed k affects exactly the callers of T_old(k) and T_new(k)
(the sources whose reach meets their endpoint identities), plus nothing else; every caller when
some t in T(k) is in an open namespace (audit mode, as the secured view passes it: rare, and
answered None). A view's UDP upstreams also follow the access decisions of the policies naming
its identity, which a rule change alters without changing reach (`mesh.udp.changed_udp_sources`).
A transparent sidecar (a pod) also answers on the ClusterIP ports of the services it may not
call, so a change of a Service's ClusterIP or ports (added, removed) reaches every transparent
sidecar; endpoint churn does not. This mirrors `visibility.py`: a change there must be mirrored
here (the property test in tests/mesh/test_impact.py checks the two agree on random changes).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from smimesh.mesh.model import Identity, MeshModel, ServiceKey
from smimesh.mesh.udp import changed_udp_sources
from smimesh.mesh.visibility import _reach_index, memo

_Index = dict[Any, frozenset[Any]]


def _changed_keys(old: Mapping[Any, Any], new: Mapping[Any, Any]) -> set[Any]:
    """Keys added, removed, or whose value differs (an identical object is unchanged: cheap)."""
    changed = set(old.keys() ^ new.keys())
    for key, value in new.items():
        before = old.get(key, value)
        if before is not value and before != value:
            changed.add(key)
    return changed


def _changed_service_values(old: MeshModel, new: MeshModel) -> set[ServiceKey]:
    """`_changed_keys` of the services, namespace by namespace when both models carry their build's
    groups (`BuildState.namespaces`): a namespace taken whole from the last build is one identity
    check instead of one per Service."""
    before = old.build_state.namespaces if old.build_state is not None else None
    after = new.build_state.namespaces if new.build_state is not None else None
    if before is None or after is None:
        return _changed_keys(old.services, new.services)
    changed: set[ServiceKey] = set()
    for namespace in before.keys() | after.keys():
        a, b = before.get(namespace), after.get(namespace)
        if a is not b:
            changed |= _changed_keys(a.services if a else {}, b.services if b else {})
    return changed


def _changed_services(old: MeshModel, new: MeshModel) -> set[ServiceKey]:
    changed = _changed_service_values(old, new)
    changed.update(root for root, _port in _changed_keys(old.splits, new.splits))
    return changed


def _changed_reach(old: MeshModel, new: MeshModel) -> set[Identity]:
    before: _Index = _reach_index(old)
    after: _Index = _reach_index(new)
    return set() if before is after else _changed_keys(before, after)


def _inverted(index: _Index) -> _Index:
    found: dict[Any, set[Any]] = defaultdict(set)
    for key, values in index.items():
        for value in values:
            found[value].add(key)
    return {k: frozenset(v) for k, v in found.items()}


def _split_indexes(model: MeshModel) -> tuple[_Index, _Index]:
    """(root -> its backends, backend -> the roots splitting over it), over every port's splits."""
    backends: dict[ServiceKey, set[ServiceKey]] = defaultdict(set)
    for (root, _port), splits in model.splits.items():
        backends[root].update(splits.backend_services)
    as_index = {k: frozenset(v) for k, v in backends.items()}
    return as_index, _inverted(as_index)


def _related(model: MeshModel, keys: Iterable[ServiceKey]) -> set[ServiceKey]:
    """T(k) for every k: the services whose visibility to a caller can put k in its outbound set."""
    backends, roots = memo(model, "impact-splits", lambda: _split_indexes(model))
    related: set[ServiceKey] = set()
    for key in keys:
        related.add(key)
        related |= backends.get(key, frozenset())
        for root in roots.get(key, ()):
            related.add(root)
            related |= backends.get(root, frozenset())
    return related


def callers_of(model: MeshModel, keys: Iterable[ServiceKey]) -> set[Identity]:
    """The identities whose outbound set in `model` may contain one of `keys`: one set test per source
    identity (an inverted reach index would cost O(identities^2) to build with dense policies)."""
    destinations: set[Identity] = set()
    for key in _related(model, keys):
        service = model.services.get(key)
        if service is not None:
            destinations |= service.identities
    if not destinations:
        return set()
    reach: _Index = _reach_index(model)
    return {source for source, reachable in reach.items() if not reachable.isdisjoint(destinations)}


def _changed_inbound(old: MeshModel, new: MeshModel) -> set[str]:
    if old.inbound_protocols == new.inbound_protocols:
        return set()
    return {node for node, _port in _changed_keys(old.inbound_protocols, new.inbound_protocols)}


def _in_open_namespace(
    old: MeshModel, new: MeshModel, services: set[ServiceKey], open_namespaces: frozenset[str]
) -> bool:
    """Whether a changed service is seen by every caller: one of T(k) lives in an open namespace."""
    if not open_namespaces:
        return False
    related = _related(old, services) | _related(new, services)
    return any(key.namespace in open_namespaces for key in related)


def affected_nodes(
    old: MeshModel, new: MeshModel, open_namespaces: frozenset[str] = frozenset()
) -> frozenset[str] | None:
    """The node ids of `new` whose view may differ from their view in `old`; None means all of them.
    `open_namespaces`: as given to `proxy_view` (their services are every caller's)."""
    settings = (old.trust_domain, old.cluster_domain, old.permissive, old.semantics)
    if settings != (new.trust_domain, new.cluster_domain, new.permissive, new.semantics):
        return None
    edges = (old.resilience, old.ingress, old.egress, old.egress_open, old.egress_enforced)
    if edges != (new.resilience, new.ingress, new.egress, new.egress_open, new.egress_enforced):
        return None  # rare (a policy edit): recompute every view rather than index who sees it
    services = _changed_services(old, new)
    if services and (new.permissive or _in_open_namespace(old, new, services, open_namespaces)):
        return None  # every sidecar sees this service (open mode, or an audit namespace's service)
    identities = _changed_reach(old, new) | changed_udp_sources(old, new)
    if services:
        identities |= callers_of(old, services) | callers_of(new, services)
    nodes = _changed_keys(old.instances, new.instances) | _changed_inbound(old, new)
    nodes.update(node for node, inst in new.instances.items() if inst.identity in identities)
    if _addresses_changed(old, new, services):
        nodes.update(node for node, inst in new.instances.items() if inst.transparent)
    return frozenset(node for node in nodes if node in new.instances)


def _address(model: MeshModel, key: ServiceKey) -> tuple[Any, ...] | None:
    service = model.services.get(key)
    return (
        None if service is None else (service.cluster_ip, tuple((p.port, p.protocol) for p in service.ports))
    )


def _addresses_changed(old: MeshModel, new: MeshModel, services: set[ServiceKey]) -> bool:
    """Whether a changed service's ClusterIP ports differ: every transparent sidecar answers on the
    ClusterIP ports it may not call (`view.closed_addresses`); endpoint churn leaves them alone."""
    return any(_address(old, key) != _address(new, key) for key in services)
