"""Hub model of `split.smi-spec.io/v1alpha4`: TrafficSplit (weighted shifting between backends of a root).

Weights are relative non-negative integers (v1alpha1 Quantities are converted by milli-value in
`versions/split_v1alpha1.py`). `matches` (HTTPRouteGroups in the split's namespace, whole groups) make the
split conditional; absent = every request for the root.

The root and the backends name Services of the split's namespace: `web`, or as OSM's manifests write it,
qualified with that namespace (`web.shop`, `web.shop.svc`, `web.shop.svc.cluster.local`). The model keeps
what was written; `TrafficSplit.root` and `local_name()` give the Service name every consumer must use.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from smimesh.resources.meta import Resource, SmiModel

GROUP = "split.smi-spec.io"
HUB_VERSION = f"{GROUP}/v1alpha4"
MATCHES_ANNOTATION = "smimesh.io/conversion-matches"

Weight = Annotated[int, Field(ge=0)]


def parse_service_ref(ref: str) -> tuple[str, str | None]:
    """(name, namespace) of `web` (namespace None), `web.ns`, `web.ns.svc`, `web.ns.svc.<cluster domain>`.

    Anything else comes back whole as the name, with no namespace, for name validation to refuse."""
    parts = ref.split(".")
    if len(parts) == 1 or not all(parts) or (len(parts) > 2 and parts[2] != "svc"):
        return ref, None
    return parts[0], parts[1]


def local_service_name(ref: str, namespace: str) -> str:
    """The Service of `namespace` that `ref` names; `ref` itself when it names another namespace."""
    name, named = parse_service_ref(ref)
    return name if named in (None, namespace) else ref


class TrafficSplitBackend(SmiModel):
    service: str
    weight: Weight


class SplitMatch(SmiModel):
    """A reference to a whole HTTPRouteGroup (the only kind SMI allows here)."""

    kind: Literal["HTTPRouteGroup"]
    name: str


class TrafficSplitSpec(SmiModel):
    service: str
    backends: list[TrafficSplitBackend]
    matches: list[SplitMatch] | None = None


class TrafficSplit(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "TrafficSplit"
    api_version: Literal["split.smi-spec.io/v1alpha4"] = Field(
        default="split.smi-spec.io/v1alpha4", alias="apiVersion"
    )
    kind: Literal["TrafficSplit"] = "TrafficSplit"
    spec: TrafficSplitSpec

    @property
    def root(self) -> str:
        """The root Service's name (in the split's namespace), however `spec.service` qualifies it."""
        return self.local_name(self.spec.service)

    def local_name(self, ref: str) -> str:
        """The Service name a root or backend reference stands for in the split's namespace."""
        return local_service_name(ref, self.metadata.namespace)
