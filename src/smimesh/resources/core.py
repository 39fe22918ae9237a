"""The `v1` Service: the fields a mesh reads (selector, ports) and every other field of the v1 schema.

Decision on the other Service fields (a user pasting `kubectl get svc -o yaml`, or a manifest written for a
cluster, must not be punished; nothing the mesh ignores may pass unmentioned if it changes what happens):
- every `type` is accepted. ClusterIP (including headless `clusterIP: None`), NodePort and LoadBalancer
  behave the same inside the mesh: callers reach the Service by name through their sidecar, split and
  authorised as usual. Node ports and load balancers are exposure from outside the cluster, which kube-proxy
  or the cloud provide on Kubernetes; smimesh opens none locally. Their fields (`nodePort`,
  `externalTrafficPolicy`, `healthCheckNodePort`, `loadBalancer*`, `allocateLoadBalancerNodePorts`,
  `externalIPs`, ...) are read and ignored;
- `type: ExternalName` is accepted with a warning (SM3025): the mesh does not route to `externalName`;
- `sessionAffinity: ClientIP` is accepted with a warning (SM3026): sidecars balance every request;
- `status` and the address fields (`clusterIP(s)`, `ipFamilies`, ...) are read and ignored;
- anything that is not a v1 ServiceSpec field is an error (a typo must not pass).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

Port = Annotated[int, Field(ge=1, le=65535)]
Protocol = Literal["TCP", "UDP", "SCTP"]
ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
TrafficPolicy = Literal["Cluster", "Local"]


class ServicePort(SmiModel):
    """`targetPort` is a number or the name of a workload port; absent = same as `port`."""

    name: str | None = None
    port: Port
    target_port: Port | str | None = Field(default=None, alias="targetPort")
    protocol: Protocol = "TCP"
    app_protocol: str | None = Field(default=None, alias="appProtocol")
    node_port: Port | None = Field(default=None, alias="nodePort")

    @property
    def effective_target_port(self) -> int | str:
        return self.port if self.target_port is None else self.target_port


class ClientIPConfig(SmiModel):
    timeout_seconds: Annotated[int, Field(ge=1, le=86400)] | None = Field(
        default=None, alias="timeoutSeconds"
    )


class SessionAffinityConfig(SmiModel):
    client_ip: ClientIPConfig | None = Field(default=None, alias="clientIP")


class ServiceSpec(SmiModel):
    selector: dict[str, str] | None = None
    ports: list[ServicePort] = Field(default_factory=list)
    type: ServiceType = "ClusterIP"
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(default=None, alias="clusterIPs")
    ip_families: list[Literal["IPv4", "IPv6"]] | None = Field(default=None, alias="ipFamilies")
    ip_family_policy: Literal["SingleStack", "PreferDualStack", "RequireDualStack"] | None = Field(
        default=None, alias="ipFamilyPolicy"
    )
    session_affinity: Literal["None", "ClientIP"] | None = Field(default=None, alias="sessionAffinity")
    session_affinity_config: SessionAffinityConfig | None = Field(default=None, alias="sessionAffinityConfig")
    internal_traffic_policy: TrafficPolicy | None = Field(default=None, alias="internalTrafficPolicy")
    external_traffic_policy: TrafficPolicy | None = Field(default=None, alias="externalTrafficPolicy")
    external_name: str | None = Field(default=None, alias="externalName")
    external_ips: list[str] | None = Field(default=None, alias="externalIPs")
    health_check_node_port: Port | None = Field(default=None, alias="healthCheckNodePort")
    load_balancer_ip: str | None = Field(default=None, alias="loadBalancerIP")
    load_balancer_source_ranges: list[str] | None = Field(default=None, alias="loadBalancerSourceRanges")
    load_balancer_class: str | None = Field(default=None, alias="loadBalancerClass")
    allocate_load_balancer_node_ports: bool | None = Field(
        default=None, alias="allocateLoadBalancerNodePorts"
    )
    publish_not_ready_addresses: bool | None = Field(default=None, alias="publishNotReadyAddresses")
    traffic_distribution: str | None = Field(default=None, alias="trafficDistribution")


class Service(Resource):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Service"
    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["Service"] = "Service"
    spec: ServiceSpec
    status: dict[str, Any] | None = None

    @property
    def endpoint_selector(self) -> dict[str, str] | None:
        """The selector that picks the endpoints: none for ExternalName, whose selector Kubernetes ignores."""
        return None if self.spec.type == "ExternalName" else self.spec.selector

    def port_named(self, name: str) -> ServicePort | None:
        return next((p for p in self.spec.ports if p.name == name), None)
