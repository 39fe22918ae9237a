"""Client-side visibility: which services a sidecar gets outbound config for (SPEC-DIGEST §8 A18).

A sidecar running as identity C sees every service with an endpoint identity that some TrafficTarget
lets C reach, plus every service of an "open" namespace (the secured view passes the namespaces in
audit mode: every caller reaches them, and their RBAC logs the would-be denials), plus the roots of
splits over those services (and, through the split, their other backends); in permissive mode it
sees every service. This only trims config: server-side policy stays authoritative. A caller asking
for a service it does not see gets its own sidecar's 403 (`xds.routes.unknown_host_vhost`). The
indexes are built once per model (`memo`, on the model's private memo); the reach index is also
reused from the previous build of the same chain (`derived`, on `model.build_state.views`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from smimesh.mesh.model import Identity, MeshModel, Service, ServiceKey
from smimesh.mesh.reuse import ViewReuse, same

if TYPE_CHECKING:
    from smimesh.mesh.access import TrafficPolicy


def memo(model: MeshModel, key: object, build: Any) -> Any:
    """`build()` once per model and key (the model is immutable, so its derived indexes are too)."""
    if key not in model._memo:
        model._memo[key] = build()
    return model._memo[key]


def views_reuse(model: MeshModel) -> ViewReuse | None:
    """The view layer's reuse of the chain of builds `model` belongs to (None for a hand-made model)."""
    return model.build_state.views if model.build_state is not None else None


def derived(model: MeshModel, name: object, source: Any, build: Any, patch: Any = None) -> Any:
    """`build(source)` once per model (`memo`), reused from the chain's previous build while `source`
    (a model field) is the same or equal; with `patch(last_source, last_index)`, an index derived
    from a different source is patched instead of rebuilt (endpoint churn changes few services)."""

    def make() -> Any:
        reuse = views_reuse(model)
        last = reuse.derived.get(name) if reuse is not None else None
        if last is not None and same(last[0], source):
            return last[1]
        index = build(source) if last is None or patch is None else patch(*last)
        if reuse is not None:
            reuse.derived[name] = (source, index)
        return index

    return memo(model, name, make)


def _reach_index(model: MeshModel) -> dict[Identity, frozenset[Identity]]:
    """Source identity -> destinations it may call, once per model. Reused from the previous build of
    the chain while the policies are equal (`build_policies` reuses unchanged ones, so this is mostly
    an identity check per policy), since with dense policies this is O(P^2) to build."""
    return derived(model, "reach", model.policies, _reach_of)  # type: ignore[no-any-return]


def _reach_of(policies: tuple[TrafficPolicy, ...]) -> dict[Identity, frozenset[Identity]]:
    found: dict[Identity, set[Identity]] = defaultdict(set)
    for policy in policies:
        for source in policy.sources:
            found[source].add(policy.destination)
    return {k: frozenset(v) for k, v in found.items()}


def _services_by_identity(services: Mapping[ServiceKey, Service]) -> dict[Identity, frozenset[ServiceKey]]:
    index: dict[Identity, set[ServiceKey]] = defaultdict(set)
    for service in services.values():
        for ident in service.identities:
            index[ident].add(service.key)
    return {k: frozenset(v) for k, v in index.items()}


_PATCH_AT_MOST = 256  # changed services beyond which rebuilding the index is as cheap as patching it


def _by_identity(model: MeshModel) -> dict[Identity, frozenset[ServiceKey]]:
    """`_services_by_identity(model.services)`, patched from the chain's last index for the services
    that changed (an identical Service value is unchanged: one identity check per service)."""

    def patch(before: Mapping[ServiceKey, Service], index: dict[Identity, frozenset[ServiceKey]]) -> Any:
        after = model.services
        changed = [k for k in before.keys() | after.keys() if before.get(k) is not after.get(k)]
        if len(changed) > _PATCH_AT_MOST:
            return _services_by_identity(after)
        found = dict(index)
        for key in changed:
            old, new = before.get(key), after.get(key)
            for ident in old.identities if old is not None else ():
                found[ident] = found[ident] - {key}
            for ident in new.identities if new is not None else ():
                found[ident] = found.get(ident, frozenset()) | {key}
        return {k: v for k, v in found.items() if v}

    return derived(model, "by_identity", model.services, _services_by_identity, patch)  # type: ignore[no-any-return]


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
    return _reach_index(model).get(identity, frozenset())


def visible_services(
    model: MeshModel, identity: Identity, open_namespaces: frozenset[str] = frozenset()
) -> frozenset[ServiceKey]:
    """The services a sidecar running as `identity` gets outbound config for; every service of
    `open_namespaces` (the namespaces in audit mode) is visible to every caller."""
    destinations = reach(model, identity)
    if destinations is None:
        return frozenset(model.services)
    return _visible_for(model, destinations, open_namespaces)


def services_in(model: MeshModel, namespaces: frozenset[str]) -> frozenset[ServiceKey]:
    """The services of `namespaces` (once per model and set)."""
    if not namespaces:
        return frozenset()
    found: frozenset[ServiceKey] = memo(
        model,
        ("services-in", namespaces),
        lambda: frozenset(k for k in model.services if k.namespace in namespaces),
    )
    return found


def _visible_for(
    model: MeshModel, destinations: frozenset[Identity], open_namespaces: frozenset[str]
) -> frozenset[ServiceKey]:
    by_identity = _by_identity(model)
    direct: set[ServiceKey] = set(services_in(model, open_namespaces))
    for destination in destinations:
        direct |= by_identity.get(destination, frozenset())
    roots = memo(model, "roots", lambda: _roots_by_backend(model))
    split_roots = {r for s in direct for r in roots.get(s, ())}
    return frozenset(direct | split_roots)
