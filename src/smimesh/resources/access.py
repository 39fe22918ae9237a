"""Hub model of `access.smi-spec.io/v1alpha3`: TrafficTarget (who may call whom, over which routes).

The hub has no `destination.port` (removed in v1alpha3). A port restriction written in v1alpha1/v1alpha2
survives conversion in the annotation `smimesh.io/conversion-destination-port` (see `convert.py`);
`TrafficTarget.legacy_destination_port` reads it so the policy engine can AND it with the rules — a
conversion must never widen access (SPEC-DIGEST §6.1).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

GROUP = "access.smi-spec.io"
HUB_VERSION = f"{GROUP}/v1alpha3"
DESTINATION_PORT_ANNOTATION = "smimesh.io/conversion-destination-port"

RuleKind = Literal["HTTPRouteGroup", "TCPRoute", "UDPRoute"]


class IdentitySubject(SmiModel):
    """A workload identity: only `ServiceAccount` exists in released SMI. Empty namespace = the target's."""

    kind: Literal["ServiceAccount"]
    name: str
    namespace: str | None = None


class TrafficTargetRule(SmiModel):
    """A route object (same namespace) the sources may use; `matches` = HTTPRouteGroup match names."""

    kind: RuleKind
    name: str
    matches: list[str] | None = None


class TrafficTargetSpec(SmiModel):
    destination: IdentitySubject
    rules: Annotated[list[TrafficTargetRule], Field(min_length=1)]
    sources: Annotated[list[IdentitySubject], Field(min_length=1)]


class TrafficTarget(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "TrafficTarget"
    api_version: Literal["access.smi-spec.io/v1alpha3"] = Field(
        default="access.smi-spec.io/v1alpha3", alias="apiVersion"
    )
    kind: Literal["TrafficTarget"] = "TrafficTarget"
    spec: TrafficTargetSpec

    @property
    def legacy_destination_port(self) -> int | None:
        """The v1alpha1/v1alpha2 `destination.port` carried over by conversion, if any (an extra AND)."""
        text = self.metadata.annotations.get(DESTINATION_PORT_ANNOTATION)
        if text is None:
            return None
        # A damaged annotation must not widen access: port 0 matches no real port (fail closed).
        return int(text) if text.strip().isdigit() else 0

    def destination_namespace(self) -> str:
        return self.spec.destination.namespace or self.metadata.namespace

    def source_namespace(self, source: IdentitySubject) -> str:
        return source.namespace or self.metadata.namespace
