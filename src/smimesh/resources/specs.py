"""Hub models of `specs.smi-spec.io/v1alpha4`: HTTPRouteGroup, TCPRoute, UDPRoute, and the shared HTTPMatch.

HTTPMatch `headers` has two layouts in the wild (SPEC-DIGEST §2.6): a list of one-entry maps (published
CRDs, Go SDK, OSM) and a plain map (spec text since 2021). Both are accepted; the model always holds a
plain `dict[str, str]` (`match.headers`), and remembers the layout it read (`match.headers_layout`) so
that writing it back (`to_dict()`) produces what the user wrote. A list entry with other than one key and
a header name given twice are refused (the Go SDK refuses the first and silently keeps the last for the
second; both lose a condition, which would widen access).

Structural checks only; regexes (RE2), match-name uniqueness and references are validated by
`resources.validate` (A2).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from smimesh.resources.meta import Resource, SmiModel

GROUP = "specs.smi-spec.io"
HUB_VERSION = f"{GROUP}/v1alpha4"

HTTPMethod = Literal["*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
HTTP_METHODS: tuple[str, ...] = get_args(HTTPMethod)
HeadersLayout = Literal["list", "map"]
Port = Annotated[int, Field(ge=1, le=65535)]


def headers_from_wire(value: Any) -> dict[str, str]:
    """Normalise either headers layout to one map; raise a pydantic error naming the offending entry."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, list):
        return value  # type: ignore[no-any-return]  # pydantic reports the type error with the path
    merged: dict[str, Any] = {}
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise PydanticCustomError(
                "header_entry",
                "headers[{index}] must be a map with exactly one `name: regex` entry, found {found}",
                {"index": index, "found": repr(entry)[:60]},
            )
        name, regex = next(iter(entry.items()))
        if name in merged:
            raise PydanticCustomError(
                "header_duplicate",
                "header `{name}` is given twice (headers[{index}])",
                {"name": name, "index": index},
            )
        merged[name] = regex
    return merged


class HTTPMatch(SmiModel):
    """One named route: path regex (start-anchored), methods (`*` = any) and header regexes (AND)."""

    name: str
    path_regex: str | None = Field(default=None, alias="pathRegex")
    methods: list[HTTPMethod] | None = None
    headers: dict[str, str] | None = None
    _headers_layout: HeadersLayout = PrivateAttr("list")

    @property
    def headers_layout(self) -> HeadersLayout:
        """How `headers` was written: "list" (CRD, the default for new objects) or "map"."""
        return self._headers_layout

    def with_headers_layout(self, layout: HeadersLayout) -> HTTPMatch:
        copy = self.model_copy()
        copy._headers_layout = layout
        return copy

    @field_validator("headers", mode="before")
    @classmethod
    def _normalise_headers(cls, value: Any) -> Any:
        return None if value is None else headers_from_wire(value)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_layout(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        match = handler(data)
        if isinstance(data, dict) and isinstance(data.get("headers"), dict):
            match._headers_layout = "map"
        elif isinstance(data, HTTPMatch):
            match._headers_layout = data.headers_layout
        return match

    @model_serializer(mode="wrap")
    def _write_layout(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if info.by_alias and self.headers is not None and self._headers_layout == "list":
            data["headers"] = [{name: regex} for name, regex in self.headers.items()]
        return data


class HTTPRouteGroupSpec(SmiModel):
    matches: list[HTTPMatch]


class HTTPRouteGroup(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "HTTPRouteGroup"
    api_version: Literal["specs.smi-spec.io/v1alpha4"] = Field(
        default="specs.smi-spec.io/v1alpha4", alias="apiVersion"
    )
    kind: Literal["HTTPRouteGroup"] = "HTTPRouteGroup"
    spec: HTTPRouteGroupSpec

    def match(self, name: str) -> HTTPMatch | None:
        return next((m for m in self.spec.matches if m.name == name), None)


class PortMatch(SmiModel):
    """`spec.matches` of TCPRoute/UDPRoute: an object (not a list); `ports: []` means every port."""

    ports: list[Port]
    name: str | None = None  # in the Go type only; pruned by the upstream CRD, tolerated here


class PortRouteSpec(SmiModel):
    matches: PortMatch


class TCPRoute(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "TCPRoute"
    api_version: Literal["specs.smi-spec.io/v1alpha4"] = Field(
        default="specs.smi-spec.io/v1alpha4", alias="apiVersion"
    )
    kind: Literal["TCPRoute"] = "TCPRoute"
    spec: PortRouteSpec

    @property
    def ports(self) -> tuple[int, ...]:
        """Covered destination ports; empty = every port of the destination."""
        return tuple(self.spec.matches.ports)


class UDPRoute(Resource):
    API_VERSION: ClassVar[str] = HUB_VERSION
    KIND: ClassVar[str] = "UDPRoute"
    api_version: Literal["specs.smi-spec.io/v1alpha4"] = Field(
        default="specs.smi-spec.io/v1alpha4", alias="apiVersion"
    )
    kind: Literal["UDPRoute"] = "UDPRoute"
    spec: PortRouteSpec

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(self.spec.matches.ports)
