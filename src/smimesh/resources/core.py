"""The `v1` Service: the fields a mesh reads (selector, ports) and what else a pasted manifest may hold.

Decision on other Service fields (a user pasting `kubectl get svc -o yaml` should not be punished, but
nothing may be accepted that promises behaviour smimesh does not give):
- tolerated and ignored: `type: ClusterIP` (the default; the mesh's own addressing replaces it),
  `clusterIP`/`clusterIPs` (including headless `None`), `ipFamilies`, `ipFamilyPolicy`,
  `sessionAffinity: None`, `internalTrafficPolicy`, and a top-level `status`;
- refused: `type` NodePort/LoadBalancer/ExternalName, `externalName`, `externalIPs`, `loadBalancerIP`,
  port `nodePort`, `sessionAffinity: ClientIP` — each asks for exposure or stickiness that would silently
  not happen — and every other field.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

Port = Annotated[int, Field(ge=1, le=65535)]
Protocol = Literal["TCP", "UDP", "SCTP"]


class ServicePort(SmiModel):
    """`targetPort` is a number or the name of a workload port; absent = same as `port`."""

    name: str | None = None
    port: Port
    target_port: Port | str | None = Field(default=None, alias="targetPort")
    protocol: Protocol = "TCP"
    app_protocol: str | None = Field(default=None, alias="appProtocol")

    @property
    def effective_target_port(self) -> int | str:
        return self.port if self.target_port is None else self.target_port


class ServiceSpec(SmiModel):
    selector: dict[str, str] | None = None
    ports: list[ServicePort] = Field(default_factory=list)
    type: Literal["ClusterIP"] = "ClusterIP"
    cluster_ip: str | None = Field(default=None, alias="clusterIP")
    cluster_ips: list[str] | None = Field(default=None, alias="clusterIPs")
    ip_families: list[str] | None = Field(default=None, alias="ipFamilies")
    ip_family_policy: str | None = Field(default=None, alias="ipFamilyPolicy")
    session_affinity: Literal["None"] | None = Field(default=None, alias="sessionAffinity")
    internal_traffic_policy: str | None = Field(default=None, alias="internalTrafficPolicy")


class Service(Resource):
    API_VERSION: ClassVar[str] = "v1"
    KIND: ClassVar[str] = "Service"
    api_version: Literal["v1"] = Field(default="v1", alias="apiVersion")
    kind: Literal["Service"] = "Service"
    spec: ServiceSpec
    status: dict[str, Any] | None = None

    def port_named(self, name: str) -> ServicePort | None:
        return next((p for p in self.spec.ports if p.name == name), None)
