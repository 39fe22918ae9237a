"""Per-proxy views: the one frozen, hashable input of the Envoy config generators.

`proxy_view(model, node_id)` keeps only what that sidecar's config depends on, so a change elsewhere
leaves the view equal and the pipeline skips the proxy. Outbound visibility is client-side
filtering (SPEC-DIGEST §8 A18): a sidecar sees the services whose endpoint identities some
TrafficTarget lets its identity reach, plus the backends of splits on those roots; in permissive
mode it sees every service. Pieces shared by many proxies (an outbound service, the whole outbound
set of a namespace+identity) are built once per model and shared by reference, with cached hashes;
across the builds of one chain they are reused and interned through `model.build_state.views`
(mesh/reuse.py), never through module globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from smimesh.mesh.egress import EgressView, egress_view
from smimesh.mesh.ingress import IngressView, ingress_view
from smimesh.mesh.model import Identity, Instance, MeshModel, Protocol, ServiceKey
from smimesh.mesh.resilience import ProxyResilience, proxy_resilience
from smimesh.mesh.reuse import OutboundEntry, same
from smimesh.mesh.split import PortSplits
from smimesh.mesh.udp import UdpUpstreamSpec, udp_upstreams
from smimesh.mesh.visibility import memo as _memo
from smimesh.mesh.visibility import reach as _reach
from smimesh.mesh.visibility import views_reuse, visible_services

_T = TypeVar("_T")


class _CachedHash:
    """Frozen dataclasses that are hashed often (lru_cache keys) remember their hash."""

    def _fields(self) -> tuple[Any, ...]:
        raise NotImplementedError

    def __hash__(self) -> int:
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(self._fields())
            object.__setattr__(self, "_hash", cached)
        return cached


@dataclass(frozen=True, slots=True, order=True)
class ClusterSpec:
    """One outbound cluster: a service port and the sidecar addresses that serve it."""

    service: ServiceKey
    port: int
    protocol: Protocol
    endpoints: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class OutboundPort:
    port: int
    protocol: Protocol
    splits: PortSplits | None = None


@dataclass(frozen=True, eq=True)
class OutboundService(_CachedHash):
    key: ServiceKey
    ports: tuple[OutboundPort, ...]
    cluster_ip: str = ""

    def _fields(self) -> tuple[Any, ...]:
        return (self.key, self.ports, self.cluster_ip)

    __hash__ = _CachedHash.__hash__

    @property
    def default_http_port(self) -> int | None:
        """The port a Host without `:port` means: 80 if the service has it, else its lowest HTTP port."""
        http = sorted(p.port for p in self.ports if p.protocol.is_http)
        return 80 if 80 in http else (http[0] if http else None)


@dataclass(frozen=True, eq=True)
class OutboundSpec(_CachedHash):
    """What a sidecar can reach: shared by every proxy with the same namespace and identity."""

    namespace: str
    cluster_domain: str
    services: tuple[OutboundService, ...]
    clusters: tuple[ClusterSpec, ...]

    def _fields(self) -> tuple[Any, ...]:
        return (self.namespace, self.cluster_domain, self.services, self.clusters)

    __hash__ = _CachedHash.__hash__


@dataclass(frozen=True, slots=True)
class NodeSpec:
    node_id: str
    namespace: str
    workload: str
    instance: str
    identity: Identity
    spiffe: str
    host: str
    admin_port: int
    outbound_http_port: int
    transparent: bool = False  # in a pod with traffic capture: xds/transparent.py reshapes its config
    logs_to_control_plane: bool = False  # request log over gRPC, not to a file: xds/access_log.py


@dataclass(frozen=True, slots=True, order=True)
class InboundSpec:
    name: str
    container_port: int
    app_port: int
    sidecar_port: int
    protocol: Protocol
    host: str


@dataclass(frozen=True, slots=True, order=True)
class TcpUpstreamSpec:
    local_port: int
    host: str
    service: ServiceKey
    port: int
    splits: PortSplits | None = None
    denied: bool = False  # a service its identity may not call: closed at once by its own sidecar


@dataclass(frozen=True, slots=True, order=True)
class ClosedAddress:
    """A mesh Service's ClusterIP port that a transparent sidecar may not call: its capture answers
    there itself (HTTP: the 403 naming the mesh; TCP: closed), instead of passing the connection
    through to an address nothing serves (xds/transparent.py)."""

    host: str
    port: int
    http: bool
    service: ServiceKey


@dataclass(frozen=True, eq=True)
class ClosedAddresses(_CachedHash):
    """The ClusterIP ports a transparent sidecar answers at itself: every one of the mesh (`every`,
    one tuple per model shared by every pod) but those of the services it may call (`seen`), so a
    pod's view costs O(what it may call), not O(services)."""

    every: tuple[ClosedAddress, ...]
    seen: frozenset[ServiceKey]

    def _fields(self) -> tuple[Any, ...]:
        return (self.every, self.seen)

    __hash__ = _CachedHash.__hash__

    def __iter__(self) -> Iterator[ClosedAddress]:
        return (a for a in self.every if a.service not in self.seen)


@dataclass(frozen=True, eq=True)
class ProxyView(_CachedHash):
    node: NodeSpec
    inbound: tuple[InboundSpec, ...]
    outbound: OutboundSpec
    tcp_upstreams: tuple[TcpUpstreamSpec, ...]
    udp_upstreams: tuple[UdpUpstreamSpec, ...] = ()  # only the ones access control allows (mesh/udp.py)
    resilience: ProxyResilience | None = None  # retries, timeouts, limits (mesh/resilience.py)
    ingress: IngressView | None = None  # only the `up --ingress` proxy's (mesh/ingress.py)
    egress: EgressView | None = None  # external hosts it may call (mesh/egress.py); None: none
    closed: ClosedAddresses | None = None  # transparent nodes: the ClusterIP ports it may not call

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.node,
            self.inbound,
            self.outbound,
            self.tcp_upstreams,
            self.udp_upstreams,
            self.resilience,
            self.ingress,
            self.egress,
            self.closed,
        )

    __hash__ = _CachedHash.__hash__


def _intern(model: MeshModel, value: _T) -> _T:
    """The live equal value from an earlier view of the same chain of builds, else `value` itself
    (`ViewReuse.intern`): successive views then share their unchanged pieces by identity."""
    reuse = views_reuse(model)
    return reuse.intern(value) if reuse is not None else value


def _key_order(key: ServiceKey) -> tuple[str, str]:
    return (key.namespace, key.name)  # a plain tuple: the dataclass's generated __lt__ is slow


def _cluster_order(spec: ClusterSpec) -> tuple[str, str, int]:
    return (spec.service.namespace, spec.service.name, spec.port)


def _cluster_spec(model: MeshModel, key: ServiceKey, port: int) -> ClusterSpec | None:
    service = model.services.get(key)
    svc_port = service.port(port) if service else None
    if svc_port is None:
        return None
    return ClusterSpec(key, port, svc_port.protocol, svc_port.addresses)


def _outbound_service(model: MeshModel, key: ServiceKey) -> OutboundService:
    """Reused from the chain's previous builds while the Service value and its splits are the same
    (or equal): the Service value itself is reused by `build_model` while its inputs are unchanged."""
    service = model.services[key]
    splits = tuple(model.splits.get((key, p.port)) for p in service.ports)
    reuse = views_reuse(model)
    last = reuse.outbound.get(key) if reuse is not None else None
    if last is not None and same(last.service, service) and last.splits == splits:
        return last.outbound
    ports = tuple(OutboundPort(p.port, p.protocol, s) for p, s in zip(service.ports, splits, strict=True))
    result = _intern(model, OutboundService(key, ports, service.cluster_ip))
    if reuse is not None:
        reuse.outbound[key] = OutboundEntry(service, splits, result)
    return result


def _clusters_for(model: MeshModel, services: tuple[OutboundService, ...]) -> tuple[ClusterSpec, ...]:
    wanted = {(s.key, p.port) for s in services for p in s.ports if p.protocol is not Protocol.UDP}
    for s in services:
        for p in s.ports:
            for route in p.splits.routes if p.splits else ():
                wanted.update((b.service, b.port) for b in route.backends)
    specs = (_memo(model, ("cluster", k, n), lambda k=k, n=n: _cluster_spec(model, k, n)) for k, n in wanted)
    return tuple(sorted((s for s in specs if s is not None), key=_cluster_order))


def _reachable(
    model: MeshModel, identity: Identity, open_namespaces: frozenset[str]
) -> tuple[tuple[OutboundService, ...], tuple[ClusterSpec, ...]]:
    keys = sorted(visible_services(model, identity, open_namespaces), key=_key_order)
    services = tuple(_memo(model, ("svc", k), lambda k=k: _outbound_service(model, k)) for k in keys)
    return services, _clusters_for(model, services)


def outbound_spec(
    model: MeshModel, namespace: str, identity: Identity, open_namespaces: frozenset[str] = frozenset()
) -> OutboundSpec:
    """Shared by every caller in `namespace` that may reach the same identities (memo key: that set);
    the services and clusters are shared across namespaces too (only short names differ).
    `open_namespaces`: namespaces whose services every caller sees (audit mode: `visibility.py`)."""
    reach = _reach(model, identity)
    reachable_key = ("reachable", reach, open_namespaces)

    def build() -> OutboundSpec:
        services, clusters = _memo(model, reachable_key, lambda: _reachable(model, identity, open_namespaces))
        return _intern(model, OutboundSpec(namespace, model.cluster_domain, services, clusters))

    result: OutboundSpec = _memo(model, ("outbound", namespace, reach, open_namespaces), build)
    return result


def _node_spec(model: MeshModel, inst: Instance) -> NodeSpec:
    ident = inst.identity
    return NodeSpec(
        inst.node_id,
        inst.namespace,
        inst.workload,
        inst.name,
        ident,
        ident.spiffe(model.trust_domain),
        inst.host,
        inst.admin_port,
        inst.outbound_http_port,
        inst.transparent,
        inst.logs_to_control_plane,
    )


def _inbound(model: MeshModel, inst: Instance) -> tuple[InboundSpec, ...]:
    protocols = model.inbound_protocols
    return tuple(
        InboundSpec(
            p.name,
            p.container_port,
            p.app_port,
            p.sidecar_port,
            protocols.get((inst.node_id, p.container_port), Protocol.HTTP),
            inst.host,
        )
        for p in sorted(inst.inbound)
    )


def _port_index(outbound: OutboundSpec) -> dict[tuple[ServiceKey, int], OutboundPort]:
    return {(s.key, p.port): p for s in outbound.services for p in s.ports}


def _tcp_upstreams(model: MeshModel, inst: Instance, outbound: OutboundSpec) -> tuple[TcpUpstreamSpec, ...]:
    if not inst.tcp_upstreams:
        return ()
    reachable = _memo(model, ("ports", outbound), lambda: _port_index(outbound))
    seen = _memo(model, ("service-keys", outbound), lambda: frozenset(s.key for s in outbound.services))
    specs = []
    for up in inst.tcp_upstreams:
        port = reachable.get((up.service_key, up.port))
        if port is not None and port.protocol is Protocol.TCP:
            specs.append(TcpUpstreamSpec(up.local_port, inst.host, up.service_key, up.port, port.splits))
        elif not up.udp and up.service_key not in seen:  # not a service it may call: closed, counted
            specs.append(TcpUpstreamSpec(up.local_port, inst.host, up.service_key, up.port, denied=True))
    return tuple(sorted(specs))


def proxy_view(model: MeshModel, node_id: str, open_namespaces: frozenset[str] = frozenset()) -> ProxyView:
    """The view of one sidecar. Raises KeyError for a node id the model has no instance for.
    `open_namespaces`: namespaces whose services every caller sees (the secured view passes the
    namespaces in audit mode, so their would-be denials reach the destination's RBAC and its log)."""
    inst = model.instance(node_id)
    if inst is None:
        raise KeyError(f"no workload instance with node id {node_id!r} in the mesh model")
    outbound = outbound_spec(model, inst.namespace, inst.identity, open_namespaces)
    return ProxyView(
        _node_spec(model, inst),
        _inbound(model, inst),
        outbound,
        _tcp_upstreams(model, inst, outbound),
        udp_upstreams(model, inst),
        _resilience(model, inst, outbound),
        ingress_view(model.ingress, inst) if model.ingress or inst.labels else None,
        egress_view(model.egress, model.egress_open, inst.identity, inst.transparent, model.egress_enforced),
        closed_addresses(model, outbound) if inst.transparent else None,
    )


def closed_addresses(model: MeshModel, outbound: OutboundSpec) -> ClosedAddresses:
    """The ClusterIP ports of the mesh services outside `outbound` (UDP aside: no capture answer)."""
    every = _memo(model, "cluster-ip-ports", lambda: _cluster_ip_ports(model))

    def build() -> ClosedAddresses:
        return ClosedAddresses(every, frozenset(s.key for s in outbound.services))

    found: ClosedAddresses = _memo(model, ("closed", outbound), build)
    return found


def _cluster_ip_ports(model: MeshModel) -> tuple[ClosedAddress, ...]:
    return tuple(
        sorted(
            ClosedAddress(service.cluster_ip, port.port, port.protocol.is_http, key)
            for key, service in model.services.items()
            if service.cluster_ip
            for port in service.ports
            if port.protocol is not Protocol.UDP
        )
    )


def _resilience(model: MeshModel, inst: Instance, outbound: OutboundSpec) -> ProxyResilience | None:
    if model.resilience is None:
        return None
    return proxy_resilience(
        model, inst, [s.key for s in outbound.services] + [c.service for c in outbound.clusters]
    )
