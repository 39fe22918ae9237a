"""`smimesh.io/v1alpha1` Workload: the local stand-in for a Deployment (DESIGN.md).

A Workload runs `replicas` copies of `command` followed by `args` (as a Deployment's container does)
under the identity of `serviceAccount`; `$(VAR)` in either expands from the instance's environment,
as in Kubernetes (`local.env.expand`). `ports` are the container ports its instances serve (the
runtime assigns the real ones through `PORT`/`HOST`).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

GROUP = "smimesh.io"
HUB_VERSION = f"{GROUP}/v1alpha1"


class ContainerPort(SmiModel):
    name: str | None = None
    container_port: Annotated[int, Field(ge=1, le=65535)] = Field(alias="containerPort")
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"


class WorkloadSpec(SmiModel):
    service_account: str = Field(default="default", alias="serviceAccount")
    replicas: Annotated[int, Field(ge=0)] = 1
    command: Annotated[list[str], Field(min_length=1)]
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    ports: list[ContainerPort] = Field(default_factory=list)
    working_dir: str | None = Field(default=None, alias="workingDir")


class Workload(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "Workload"
    api_version: Literal["smimesh.io/v1alpha1"] = Field(default="smimesh.io/v1alpha1", alias="apiVersion")
    kind: Literal["Workload"] = "Workload"
    spec: WorkloadSpec
