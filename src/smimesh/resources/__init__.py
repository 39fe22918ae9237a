"""The resource layer: SMI kinds, Service and Workload; loading, validation, references and conversion.

Public API (docs/architecture.md, "resources/"): `load_paths`, `load_text`, `LoadResult`, `LoadedObject`,
`ResourceKey`, `InputSnapshot`, `validate_references`, `convert`. Everything else is an implementation
module; import from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smimesh.resources import codes as codes
from smimesh.resources.load import LoadedObject, LoadResult, load_documents, load_paths, load_text
from smimesh.resources.meta import Resource, ResourceKey
from smimesh.resources.references import validate_references
from smimesh.resources.snapshot import InputSnapshot

if TYPE_CHECKING:
    from smimesh.resources.convert import convert as convert

__all__ = [
    "InputSnapshot",
    "LoadResult",
    "LoadedObject",
    "Resource",
    "ResourceKey",
    "convert",
    "load_documents",
    "load_paths",
    "load_text",
    "validate_references",
]


def __getattr__(name: str) -> Any:
    # `convert` is imported on first use: its module belongs to the conversion work and may grow heavy.
    if name == "convert":
        from smimesh.resources.convert import convert

        return convert
    raise AttributeError(name)
