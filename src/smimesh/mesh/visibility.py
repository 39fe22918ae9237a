"""Client-side visibility: which services a sidecar gets outbound config for (SPEC-DIGEST §8 A18).

A sidecar running as identity C sees every service with an endpoint identity that some TrafficTarget
lets C reach, plus the roots of splits over those services (and, through the split, their other
backends); in permissive mode it sees every service. This only trims config: server-side policy
stays authoritative. The indexes are built once per model (`memo`, on the model's private memo).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from smimesh.mesh.model import Identity, MeshModel, ServiceKey


def memo(model: MeshModel, key: object, build: Any) -> Any:
    """`build()` once per model and key (the model is immutable, so its derived indexes are too)."""
    if key not in model._memo:
        model._memo[key] = build()
    return model._memo[key]


_last_reach: list[tuple[tuple[Any, ...], dict[Identity, frozenset[Identity]]]] = []


def _reach_index(model: MeshModel) -> dict[Identity, frozenset[Identity]]:
    """Source identity -> destinations it may call. Reused while the policies are the same objects
    (`build_policies` reuses unchanged ones), since with dense policies this is O(P^2) to build."""
    if _last_reach:
        policies, index = _last_reach[0]
        same = len(policies) == len(model.policies)
        if same and all(a is b for a, b in zip(policies, model.policies, strict=True)):
            return index
    found: dict[Identity, set[Identity]] = defaultdict(set)
    for policy in model.policies:
        for source in policy.sources:
            found[source].add(policy.destination)
    index = {k: frozenset(v) for k, v in found.items()}
    _last_reach[:] = [(model.policies, index)]
    return index


def _services_by_identity(model: MeshModel) -> dict[Identity, frozenset[ServiceKey]]:
    index: dict[Identity, set[ServiceKey]] = defaultdict(set)
    for service in model.services.values():
        for ident in service.identities:
            index[ident].add(service.key)
    return {k: frozenset(v) for k, v in index.items()}


def _roots_by_backend(model: MeshModel) -> dict[ServiceKey, frozenset[ServiceKey]]:
    index: dict[ServiceKey, set[ServiceKey]] = defaultdict(set)
    for (root, _port), splits in model.splits.items():
        for backend in splits.backend_services:
            index[backend].add(root)
    return {k: frozenset(v) for k, v in index.items()}


def reach(model: MeshModel, identity: Identity) -> frozenset[Identity] | None:
    """The destination identities `identity` may call; None means every service (permissive mode)."""
    if model.permissive:
        return None
    index: dict[Identity, frozenset[Identity]] = memo(model, "reach", lambda: _reach_index(model))
    return index.get(identity, frozenset())


def visible_services(model: MeshModel, identity: Identity) -> frozenset[ServiceKey]:
    """The services a sidecar running as `identity` gets outbound config for."""
    destinations = reach(model, identity)
    return frozenset(model.services) if destinations is None else _visible_for(model, destinations)


def _visible_for(model: MeshModel, destinations: frozenset[Identity]) -> frozenset[ServiceKey]:
    by_identity = memo(model, "by_identity", lambda: _services_by_identity(model))
    direct: set[ServiceKey] = set()
    for destination in destinations:
        direct |= by_identity.get(destination, frozenset())
    roots = memo(model, "roots", lambda: _roots_by_backend(model))
    split_roots = {r for s in direct for r in roots.get(s, ())}
    return frozenset(direct | split_roots)
