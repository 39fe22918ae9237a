"""The mesh's edges: Kubernetes `networking.k8s.io/v1` Ingress (which host/path goes to which Service),
OSM's `policy.openservicemesh.io/v1alpha1` IngressBackend (which ingress may reach which backends) and
Egress (which workloads may reach which destinations outside the mesh).

Ingress is modelled with the fields of the Kubernetes API that route HTTP (rules, host, paths, pathType,
service backends, defaultBackend, ingressClassName); `tls` and resource backends decode but are refused
by `validate_ingress` (smimesh's ingress serves plain HTTP on loopback). IngressBackend and Egress have
every field of OSM's published CRDs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

PathType = Literal["Exact", "Prefix", "ImplementationSpecific"]


class ServiceBackendPort(SmiModel):
    name: str | None = None
    number: Annotated[int, Field(ge=1, le=65535)] | None = None


class IngressServiceBackend(SmiModel):
    name: str
    port: ServiceBackendPort


class IngressBackendRef(SmiModel):
    service: IngressServiceBackend | None = None
    resource: dict[str, Any] | None = None  # refused: smimesh routes only to Services


class HTTPIngressPath(SmiModel):
    path: str | None = None
    path_type: PathType = Field(alias="pathType")
    backend: IngressBackendRef


class HTTPIngressRuleValue(SmiModel):
    paths: Annotated[list[HTTPIngressPath], Field(min_length=1)]


class IngressRule(SmiModel):
    host: str | None = None
    http: HTTPIngressRuleValue | None = None


class IngressSpec(SmiModel):
    ingress_class_name: str | None = Field(default=None, alias="ingressClassName")
    default_backend: IngressBackendRef | None = Field(default=None, alias="defaultBackend")
    rules: list[IngressRule] = Field(default_factory=list)
    tls: list[dict[str, Any]] | None = None  # refused: the local ingress speaks plain HTTP


class Ingress(Resource):
    API_VERSION: ClassVar[str] = "networking.k8s.io/v1"
    KIND: ClassVar[str] = "Ingress"
    api_version: Literal["networking.k8s.io/v1"] = Field(default="networking.k8s.io/v1", alias="apiVersion")
    kind: Literal["Ingress"] = "Ingress"
    spec: IngressSpec
    status: dict[str, Any] | None = None


class BackendPort(SmiModel):
    number: Annotated[int, Field(ge=1, le=65535)]
    protocol: str


class BackendTls(SmiModel):
    skip_client_cert_validation: bool = Field(alias="skipClientCertValidation")
    sni_hosts: list[str] | None = Field(default=None, alias="sniHosts")


class IngressBackendTarget(SmiModel):
    name: str
    port: BackendPort
    tls: BackendTls | None = None


class IngressSource(SmiModel):
    kind: str
    name: str
    namespace: str | None = None


class RouteRef(SmiModel):
    api_group: str = Field(alias="apiGroup")
    kind: str
    name: str


class IngressBackendSpec(SmiModel):
    backends: list[IngressBackendTarget]
    sources: list[IngressSource]
    matches: list[RouteRef] | None = None


class IngressBackend(Resource):
    """Which ingress (by identity, Service or IP range) may reach which backends of this namespace."""

    API_VERSION: ClassVar[str] = "policy.openservicemesh.io/v1alpha1"
    KIND: ClassVar[str] = "IngressBackend"
    api_version: Literal["policy.openservicemesh.io/v1alpha1"] = Field(
        default="policy.openservicemesh.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["IngressBackend"] = "IngressBackend"
    spec: IngressBackendSpec
    status: dict[str, Any] | None = None


class EgressSource(SmiModel):
    kind: str
    name: str
    namespace: str


class EgressPort(SmiModel):
    number: Annotated[int, Field(ge=1, le=65535)]
    protocol: str


class EgressSpec(SmiModel):
    sources: list[EgressSource]
    hosts: list[str] | None = None
    ip_addresses: list[str] | None = Field(default=None, alias="ipAddresses")
    ports: list[EgressPort]
    matches: list[RouteRef] | None = None


class Egress(Resource):
    """Which workloads (ServiceAccounts) may reach which destinations outside the mesh."""

    API_VERSION: ClassVar[str] = "policy.openservicemesh.io/v1alpha1"
    KIND: ClassVar[str] = "Egress"
    api_version: Literal["policy.openservicemesh.io/v1alpha1"] = Field(
        default="policy.openservicemesh.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["Egress"] = "Egress"
    spec: EgressSpec
    status: dict[str, Any] | None = None
