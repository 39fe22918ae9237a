"""Golden files for generated Envoy config: readable YAML, one flag (`pytest --update-golden`) refreshes them.

`as_data(resources)` turns `{type_url: [message]}` into plain data (proto field names, `@type` on
packed configs, resources sorted by name); `Golden(directory, update).check(name, data)` compares
with `<directory>/<name>.yaml` and fails with a unified diff, or rewrites the file when updating.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from smimesh.xds import type_urls

MAX_DIFF_LINES = 80


def _name(data: Mapping[str, Any]) -> str:
    return str(data.get("name") or data.get("cluster_name") or "")


def _stable(data: Any) -> Any:
    """Sort the keys of protobuf Structs (an access log's `json_format`): their order is a hash order."""
    if isinstance(data, list):
        return [_stable(item) for item in data]
    if not isinstance(data, dict):
        return data
    return {k: dict(sorted(v.items())) if k == "json_format" else _stable(v) for k, v in data.items()}


def as_data(resources: Mapping[str, Sequence[Message]]) -> dict[str, list[dict[str, Any]]]:
    """Plain, stably ordered data for a generated resource set (keys are LDS/RDS/CDS/EDS)."""
    result = {}
    for type_url in sorted(resources, key=type_urls.push_rank):
        # Through JSON: MessageToDict nests OrderedDicts for packed configs, which YAML cannot represent.
        items = [
            _stable(json.loads(json.dumps(MessageToDict(m, preserving_proto_field_name=True))))
            for m in resources[type_url]
        ]
        result[type_urls.short_name(type_url)] = sorted(items, key=_name)
    return result


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, width=120, default_flow_style=False)


class Golden:
    """Compare data with (or, when `update`, write) `<directory>/<name>.yaml`."""

    def __init__(self, directory: Path, update: bool = False) -> None:
        self.directory = directory
        self.update = update

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.yaml"

    def check(self, name: str, data: Any) -> None:
        path, text = self.path(name), dump(data)
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return
        if not path.exists():
            raise AssertionError(f"golden file {path} is missing: run `pytest --update-golden` and review it")
        expected = path.read_text()
        if expected != text:
            diff = difflib.unified_diff(
                expected.splitlines(), text.splitlines(), str(path), "generated", lineterm=""
            )
            lines = list(diff)
            shown = "\n".join(lines[:MAX_DIFF_LINES]) + ("\n..." if len(lines) > MAX_DIFF_LINES else "")
            raise AssertionError(
                f"generated config differs from {path} (`pytest --update-golden` if intended):\n{shown}"
            )
