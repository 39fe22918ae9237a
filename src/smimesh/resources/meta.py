"""Shared building blocks of every resource model: the model base, `ObjectMeta`, `ResourceKey`, `Resource`.

Owns the conventions all kinds follow: pydantic v2, frozen, `extra="forbid"` (a typo is a diagnostic,
never silently ignored), strict types (YAML `"8080"` is not a port), JSON (SMI) field names as aliases so
that validation error `loc`s use the names the user wrote (`pathRegex`, `apiVersion`).

`ObjectMeta` decision (which Kubernetes metadata fields a pasted manifest may carry):
- accepted and used: `name`, `namespace` (default "default"), `labels`, `annotations`;
- tolerated and ignored (the API server fills them; they appear when a user pastes `kubectl get -o yaml`
  output, and they change nothing about the mesh): `uid`, `resourceVersion`, `generation`,
  `creationTimestamp`, `selfLink`, `managedFields`, `ownerReferences`, `finalizers`;
- errors (unknown fields): `generateName` (smimesh needs the concrete name to resolve references),
  `deletionTimestamp` / `deletionGracePeriodSeconds` (an object being deleted must not be configured),
  and anything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field


class SmiModel(BaseModel):
    """Base of every model: frozen, no unknown fields, strict types, JSON names accepted as aliases."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, strict=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON/YAML shape with SMI field names, leaving out fields that were not given (None)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def __hash__(self) -> int:
        # pydantic's frozen hash fails on dict fields (labels, headers); hash the content instead, so
        # models can sit in sets and in the frozen, hashable views the generators take. Equal models
        # have equal JSON, so this agrees with `==`.
        return hash((type(self).__name__, self.model_dump_json(by_alias=True)))


class ObjectMeta(SmiModel):
    """Kubernetes object metadata; see the module docstring for the fields tolerated and refused."""

    name: str
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    generation: int | None = None
    creation_timestamp: datetime | None = Field(default=None, alias="creationTimestamp", strict=False)
    self_link: str | None = Field(default=None, alias="selfLink")
    managed_fields: list[dict[str, Any]] | None = Field(default=None, alias="managedFields")
    owner_references: list[dict[str, Any]] | None = Field(default=None, alias="ownerReferences")
    finalizers: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for empty_map in ("labels", "annotations"):
            if not data.get(empty_map):
                data.pop(empty_map, None)
        return data


class ResourceKey(NamedTuple):
    """Identity of an object within a mesh: kind, namespace and name. `str()` is `Kind/ns/name`."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


class Resource(SmiModel):
    """A top-level object: `apiVersion`, `kind`, `metadata`. Subclasses pin both with `Literal` fields."""

    API_VERSION: ClassVar[str] = ""
    KIND: ClassVar[str] = ""

    metadata: ObjectMeta

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.KIND, self.metadata.namespace, self.metadata.name)

    @property
    def group_version(self) -> str:
        return self.API_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON shape with `apiVersion` and `kind` first, as Kubernetes writes them."""
        body = super().to_dict()
        head = {"apiVersion": self.API_VERSION, "kind": self.KIND, "metadata": self.metadata.to_dict()}
        return head | {k: v for k, v in body.items() if k not in head}

    def with_annotations(self, annotations: dict[str, str]) -> Self:
        """A copy with `metadata.annotations` replaced (used by conversion to carry lossy fields)."""
        meta = self.metadata.model_copy(update={"annotations": dict(annotations)})
        return self.model_copy(update={"metadata": meta})


class SpokeResource(Resource):
    """An older version of a kind: converts to its hub model and back (hub-and-spoke, see `convert.py`)."""

    HUB: ClassVar[type[Resource]]

    def to_hub(self) -> Resource:
        raise NotImplementedError

    @classmethod
    def from_hub(cls, hub: Resource) -> SpokeResource:
        raise NotImplementedError
