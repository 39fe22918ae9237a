"""The secured view of a sidecar: what `xds.generate` needs, besides its `ProxyView`, to produce
mTLS on every mesh hop, RBAC on every inbound port and the identity's SDS secrets.

Owns `SecureView` (a `ProxyView` plus the sidecar's SPIFFE id, its inbound mTLS mode, the access
input of each inbound port, the identities expected behind each outbound cluster, and its identity
bundle) and `secure_view(model, node, modes, bundle_of)`, which builds it. The config itself is made
by the generators (`xds.generate`, through the listener/cluster seams): there is one path, and the
plain config is that path with no security.

Visibility is the plain view's (`mesh.visibility`): a sidecar gets outbound config only for the
services its identity may reach, plus every service of a namespace in audit mode (and everything
in `open` traffic-policy mode, where the model is permissive). A denied caller is answered by its
own sidecar: 403, a body naming smimesh and the host (docs/architecture.md, "What a denied caller
sees"); `xds.secure_impact` is the exact index of this view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from smimesh.identity.bundle import IdentityBundle
from smimesh.identity.spiffe import SpiffeId
from smimesh.mesh.model import MeshModel
from smimesh.mesh.modes import MeshModes, MtlsMode
from smimesh.mesh.view import ClusterSpec, OutboundSpec, ProxyView, proxy_view
from smimesh.mesh.visibility import derived, memo
from smimesh.xds import names
from smimesh.xds.rbac import InboundAccess, inbound_access
from smimesh.xds.secrets import OWN_CERTIFICATE


@dataclass(frozen=True)
class UpstreamPeers:
    """The identities expected behind each outbound cluster: `(cluster name, identities)` in cluster
    order. One object per outbound set and model, shared by the namespace's sidecars; its hash is
    computed once, since it keys the generator's cache of secured clusters for every sidecar."""

    by_cluster: tuple[tuple[str, tuple[SpiffeId, ...]], ...]

    @cached_property
    def _hash(self) -> int:
        return hash(self.by_cluster)

    def __hash__(self) -> int:
        return self._hash


@dataclass(frozen=True, slots=True)
class SecureView:
    base: ProxyView
    own: SpiffeId
    mtls: MtlsMode
    inbound_access: tuple[InboundAccess, ...]  # one per `base.inbound`, same order
    upstream_peers: UpstreamPeers
    bundle: IdentityBundle | None = None  # None until the certificate book has issued one


def _peers(model: MeshModel, spec: ClusterSpec) -> tuple[SpiffeId, ...]:
    """The SPIFFE ids behind one cluster, reused from the previous build while its endpoints'
    identities are equal (endpoint churn: a SpiffeId validates its trust domain when made)."""
    service = model.service(spec.service)
    port = service.port(spec.port) if service else None
    identities = frozenset(e.identity for e in port.endpoints) if port else frozenset()

    def build(_source: object) -> tuple[SpiffeId, ...]:
        return tuple(SpiffeId(model.trust_domain, i.namespace, i.service_account) for i in sorted(identities))

    name = ("peers", spec.service, spec.port)  # not the spec: its addresses change with the endpoints
    peers: tuple[SpiffeId, ...] = derived(model, name, (model.trust_domain, identities), build)
    return peers


def _upstream_peers(model: MeshModel, outbound: OutboundSpec) -> UpstreamPeers:
    return UpstreamPeers(
        tuple((names.outbound_cluster(c.service, c.port), _peers(model, c)) for c in outbound.clusters)
    )


def secure_view(
    model: MeshModel, node_id: str, modes: MeshModes, bundle_of: Callable[[SpiffeId], IdentityBundle | None]
) -> SecureView:
    """The secured view of one sidecar (KeyError for an unknown node, like `proxy_view`)."""
    # Real visibility: the services some TrafficTarget lets this identity reach, and every service of
    # an audit namespace (its RBAC must see the would-be denials). Any other host gets this sidecar's
    # own 403 naming the mesh (`routes.unknown_host_vhost`), so a Service nobody may call is in no view.
    base = proxy_view(model, node_id, modes.audit_namespaces)
    node = base.node
    own = SpiffeId(model.trust_domain, node.identity.namespace, node.identity.service_account)
    audit = modes.audit(node.namespace)
    access = tuple(
        memo(
            model,
            ("rbac", node.identity, s.name, s.container_port, s.protocol, audit),
            lambda s=s: inbound_access(
                model, node.identity, s.name, s.container_port, s.protocol, audit=audit
            ),
        )
        for s in base.inbound
    )
    outbound = base.outbound  # shared by the namespace's sidecars: so is its peers tuple (one object)
    peers = memo(model, ("secure-peers", outbound), lambda: _upstream_peers(model, outbound))
    return SecureView(base, own, modes.mtls_for(node.namespace), access, peers, bundle_of(own))


__all__ = ["OWN_CERTIFICATE", "SecureView", "UpstreamPeers", "secure_view"]
