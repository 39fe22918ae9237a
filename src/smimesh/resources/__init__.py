"""The resource layer: SMI kinds, Service and Workload; loading, validation, references and conversion.

Public API (docs/architecture.md, "resources/"): `load_paths`, `load_text`, `LoadResult`, `LoadedObject`,
`ResourceKey`, `InputSnapshot`, `validate_references`, `convert`, and `read_paths` (documents as written,
not decoded). Everything else is an implementation module; import from here.
"""

from __future__ import annotations

from smimesh.resources import codes as codes
from smimesh.resources.convert import convert  # the function; rebinds the name its module also has
from smimesh.resources.load import LoadedObject, LoadResult, load_documents, load_paths, load_text
from smimesh.resources.meta import Resource, ResourceKey
from smimesh.resources.reader import read_paths
from smimesh.resources.references import validate_references
from smimesh.resources.snapshot import InputSnapshot

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
    "read_paths",
    "validate_references",
]
