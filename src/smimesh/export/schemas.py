"""Validate exported objects against the published CRD schemas (`openAPIV3Schema` of each version).

`SchemaSet.from_directory(path)` reads every CRD in a directory (the upstream files in
tests/data/upstream/{gateway-api,istio,linkerd,consul}); `problems(obj)` validates one object with
`jsonschema` (Draft 7 keywords; the `x-kubernetes-*` extensions are ignored, the CEL ones are ported
in `cel.py`).
An object whose (apiVersion, kind) no CRD in the set serves is reported, so a typo cannot pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml


@dataclass(frozen=True)
class SchemaSet:
    schemas: dict[tuple[str, str], dict[str, Any]]

    @staticmethod
    def from_directory(*directories: Path) -> SchemaSet:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for directory in directories:
            for path in sorted(Path(directory).glob("*.yaml")):
                for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                    found.update(_versions(doc))
        return SchemaSet(found)

    def problems(self, obj: dict[str, Any]) -> list[str]:
        schema = self.schemas.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        if schema is None:
            return [f"no CRD in the schema set serves {obj.get('apiVersion')} {obj.get('kind')}"]
        validator = jsonschema.Draft7Validator(schema)
        return [f"{_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]


def _versions(doc: Any) -> dict[tuple[str, str], dict[str, Any]]:
    if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
        return {}
    spec = doc["spec"]
    return {
        (f"{spec['group']}/{version['name']}", spec["names"]["kind"]): version["schema"]["openAPIV3Schema"]
        for version in spec.get("versions", [])
        if version.get("served", True) and "schema" in version
    }


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "(object)"
