"""The mesh model: frozen values that every generator and `explain` read.

Owns the value types of the mesh layer (services, ports, endpoints, identities, instances, HTTP
matches) and `MeshModel`, the immutable result of `build_model`. Nothing here knows the resource
models or Envoy: `build.py` turns resources into these values and `xds/` turns views of them into
Envoy config. Every value is frozen and hashable so generators can cache on it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from smimesh.diagnostics import Diagnostic
from smimesh.settings import LOOPBACK

if TYPE_CHECKING:
    from smimesh.mesh.access import TrafficPolicy
    from smimesh.mesh.egress import EgressRule
    from smimesh.mesh.ingress import IngressRoute
    from smimesh.mesh.resilience import Resilience
    from smimesh.mesh.reuse import BuildState
    from smimesh.mesh.split import PortSplits

DEFAULT_TRUST_DOMAIN = "cluster.local"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


class Protocol(enum.StrEnum):
    HTTP = "http"
    GRPC = "grpc"
    TCP = "tcp"
    UDP = "udp"

    @property
    def is_http(self) -> bool:
        return self in (Protocol.HTTP, Protocol.GRPC)


class ServiceKey(NamedTuple):
    """A Service by namespace and name. A NamedTuple (not a dataclass) because it is hashed millions of
    times at scale and tuple hashing runs in C."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class Identity(NamedTuple):
    """A workload identity: a ServiceAccount in a namespace (SMI's only released identity kind).

    A NamedTuple for C-speed hashing (sets of identities are the bulk of a dense access policy)."""

    namespace: str
    service_account: str

    def spiffe(self, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> str:
        return f"spiffe://{trust_domain}/ns/{self.namespace}/sa/{self.service_account}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service_account}"


@dataclass(frozen=True, slots=True, order=True)
class InboundPort:
    """One Workload port of one instance: where the app listens and where its sidecar accepts mesh traffic."""

    name: str
    container_port: int
    app_port: int
    sidecar_port: int


@dataclass(frozen=True, slots=True, order=True)
class TcpUpstream:
    """A local port on which an instance's sidecar forwards raw TCP to one non-HTTP service port."""

    namespace: str
    service: str
    port: int
    local_port: int
    udp: bool = False  # announced as UDP (`SMIMESH_UDP_...`): a denied caller gets no TCP listener there

    @property
    def service_key(self) -> ServiceKey:
        return ServiceKey(self.namespace, self.service)


def _label_tuple(labels: Mapping[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    items = labels.items() if isinstance(labels, Mapping) else labels
    return tuple(sorted((str(k), str(v)) for k, v in items))


@dataclass(frozen=True)
class Instance:
    """One running replica of a Workload and its sidecar (built by the local runtime, or by tests).

    `labels` may be given as a mapping; it is stored as a sorted tuple so the instance stays hashable.
    """

    namespace: str
    workload: str
    name: str
    service_account: str
    labels: tuple[tuple[str, str], ...] = ()
    admin_port: int = 0
    outbound_http_port: int = 0
    inbound: tuple[InboundPort, ...] = ()
    tcp_upstreams: tuple[TcpUpstream, ...] = ()
    host: str = LOOPBACK
    node_id: str = ""
    # A sidecar in a pod with traffic capture (issue 13): its config routes by original destination
    # (`xds/transparent.py`); its inbound ports are the container ports on `host` (the pod IP).
    transparent: bool = False
    # A sidecar in a pod sends its request log to the control plane over gRPC rather than to a file
    # the control plane tails (`xds/access_log.py`).
    logs_to_control_plane: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", _label_tuple(self.labels))
        object.__setattr__(self, "inbound", tuple(self.inbound))
        object.__setattr__(self, "tcp_upstreams", tuple(self.tcp_upstreams))
        if not self.node_id:
            object.__setattr__(self, "node_id", f"{self.name}.{self.namespace}")

    @property
    def identity(self) -> Identity:
        return Identity(self.namespace, self.service_account)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """Where a service port is served: one instance's sidecar inbound listener, and who answers there."""

    host: str
    port: int
    node_id: str
    identity: Identity
    container_port: int


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str
    port: int
    target: int | str
    protocol: Protocol
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted({(e.host, e.port) for e in self.endpoints}))


@dataclass(frozen=True, slots=True)
class Service:
    key: ServiceKey
    ports: tuple[ServicePort, ...]
    selector: tuple[tuple[str, str], ...] = ()
    cluster_ip: str = ""  # spec.clusterIP ("" when unset or headless): transparent sidecars route by it

    def port(self, number: int) -> ServicePort | None:
        return next((p for p in self.ports if p.port == number), None)

    @property
    def identities(self) -> frozenset[Identity]:
        return frozenset(e.identity for p in self.ports for e in p.endpoints)


@dataclass(frozen=True, slots=True)
class HttpMatch:
    """One HTTPRouteGroup match (specs v1alpha4), normalised: empty means "any"; header names lowercase."""

    name: str
    path_regex: str = ""
    methods: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def any_method(self) -> bool:
        return not self.methods or "*" in self.methods


@dataclass(frozen=True, slots=True)
class AccessSemantics:
    """How access rules read where SMI leaves room (MeshConfig switches for teams coming from OSM).

    `path_regex_full`: an HTTPRouteGroup `pathRegex` must match the whole path (OSM) instead of its
    start (the spec's reading, SPEC-DIGEST A3). `tcp_route_admits_http`: a TrafficTarget whose only
    rules are TCPRoutes admits every HTTP request on the HTTP ports they cover (L4 authorisation, as
    Istio and Linkerd do) instead of admitting no HTTP there (OSM, A2).
    """

    path_regex_full: bool = False
    tcp_route_admits_http: bool = False


DEFAULT_SEMANTICS = AccessSemantics()


@dataclass(frozen=True)
class MeshModel:
    """Everything the generators and `explain` need, for one consistent input snapshot."""

    services: Mapping[ServiceKey, Service]
    instances: Mapping[str, Instance]  # by node_id
    splits: Mapping[tuple[ServiceKey, int], PortSplits]
    policies: tuple[TrafficPolicy, ...]
    inbound_protocols: Mapping[tuple[str, int], Protocol] = field(
        default_factory=dict
    )  # (node_id, container port)
    diagnostics: tuple[Diagnostic, ...] = ()
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    permissive: bool = False
    semantics: AccessSemantics = DEFAULT_SEMANTICS
    resilience: Resilience | None = None  # retries, timeouts, limits (mesh/resilience.py); None: no policy
    ingress: tuple[IngressRoute, ...] = ()  # Ingress paths for `up --ingress` (mesh/ingress.py)
    egress: Mapping[Identity, tuple[EgressRule, ...]] = field(default_factory=dict)  # mesh/egress.py
    egress_open: bool = False  # MeshConfig egress: open (any external host) | policy (only Egress's)
    egress_enforced: bool = False  # pods: by policy even with no Egress in the mesh (MeshModes)
    # What the next build_model may reuse (mesh/reuse.py); None for a model made by hand.
    build_state: BuildState | None = field(default=None, compare=False, repr=False)
    _memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    def service(self, key: ServiceKey) -> Service | None:
        return self.services.get(key)

    def instance(self, node_id: str) -> Instance | None:
        return self.instances.get(node_id)
