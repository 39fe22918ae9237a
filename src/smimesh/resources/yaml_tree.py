"""Bounded YAML/JSON parsing into plain data plus a field-path → line map, from libyaml's event stream.

Owns the one place where text becomes Python data. It builds values from parser *events* (never
PyYAML's recursive composer/constructor), so it can refuse what would hurt later layers before it
exists: nesting deeper than `max_depth`, more aliases than `max_aliases`, alias expansion beyond
`MAX_EXPANDED_NODES` (billion laughs), undefined/recursive aliases, duplicate keys, non-scalar keys
and unknown tags. Each refusal is a `TreeError` carrying the 1-based line, which `reader` turns into
a diagnostic. Scalars resolve like `yaml.safe_load` (YAML 1.1), except timestamps and binary stay
text (Kubernetes reads manifests as JSON, where those are strings); in JSON mode plain scalars
resolve as JSON does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from smimesh.resources import codes

Path = tuple[str | int, ...]

# Alias expansion budget per document: a real manifest reuses a few anchors; a bomb expands to
# millions of nodes. 100k nodes is far above any real manifest and parses in well under a second.
MAX_EXPANDED_NODES = 100_000

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER: Any = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TEXT_TAGS = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"}
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NO_KEY = object()


class TreeError(Exception):
    """A document that must not be built; `code` is an SM1xxx code, `line` 1-based."""

    def __init__(self, code: str, message: str, line: int | None, hint: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.hint = code, message, line, hint


@dataclass(slots=True)
class ParsedDocument:
    """One YAML document: its data, the line of every field path, and its first line."""

    data: Any
    lines: dict[Path, int]
    line: int


@dataclass(slots=True)
class _Frame:
    container: Any
    path: Path
    anchor: str | None
    key: Any = _NO_KEY
    merged: set[str] = field(default_factory=set)
    nodes: int = 1


@dataclass(slots=True)
class Limits:
    max_depth: int
    max_aliases: int


def iter_documents(
    text: str, limits: Limits, *, json_mode: bool = False, line_offset: int = 0
) -> Iterator[ParsedDocument | None]:
    """Yield each document of `text` (None for an empty one). Raises TreeError or yaml.YAMLError.

    `line_offset` is added to every line (for text that starts in the middle of a file).
    """
    builder: _Builder | None = None
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.DocumentStartEvent):
            builder = _Builder(limits, json_mode, line_offset)
        elif isinstance(event, yaml.DocumentEndEvent) and builder is not None:
            yield builder.finish()
            builder = None
        elif builder is not None:
            builder.feed(event)


class _Builder:
    """Builds one document from events with an explicit stack (no recursion, bounded)."""

    def __init__(self, limits: Limits, json_mode: bool, line_offset: int) -> None:
        self.limits, self.json_mode, self.offset = limits, json_mode, line_offset
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.lines: dict[Path, int] = {}
        self.root: Any = None
        self.done = False
        self.aliases = 0
        self.expanded = 0

    def finish(self) -> ParsedDocument | None:
        if not self.done:
            return None
        return ParsedDocument(self.root, self.lines, self.lines.get((), self.offset + 1))

    def _line(self, event: Any) -> int:
        return self.offset + int(event.start_mark.line) + 1

    def feed(self, event: Any) -> None:
        if isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._start(event)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self._end()
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)

    # --- where the next node goes -------------------------------------------------------------
    def _child_path(self, event: Any) -> Path | None:
        """Path for the next value node, or None when the node is a mapping key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if top.key is _NO_KEY:
            return None
        return (*top.path, top.key)

    def _place(self, value: Any, nodes: int, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, nodes)
        if not self.stack:
            self.root, self.done = value, True
            return
        top = self.stack[-1]
        top.nodes += nodes
        if isinstance(top.container, list):
            top.container.append(value)
        else:
            self._set_key(top, value)

    def _set_key(self, top: _Frame, value: Any) -> None:
        key, top.key = top.key, _NO_KEY
        if key == "<<" and isinstance(value, dict | list):
            self._merge(top, value)
            return
        top.merged.discard(key)
        top.container[key] = value

    def _merge(self, top: _Frame, value: Any) -> None:
        for source in value if isinstance(value, list) else [value]:
            if not isinstance(source, dict):
                raise TreeError(
                    codes.UNSUPPORTED_YAML,
                    "a merge key (<<) must refer to mappings",
                    None,
                    "merge only mappings: `<<: *anchor` where &anchor names a mapping",
                )
            for key, item in source.items():
                if key not in top.container:
                    top.container[key] = item
                    top.merged.add(key)

    # --- events -------------------------------------------------------------------------------
    def _scalar(self, event: Any) -> None:
        path = self._child_path(event)
        if path is None:  # a mapping key: keys are text, as in JSON
            self._key(event)
            return
        self.lines.setdefault(path, self._line(event))
        self._place(self._resolve(event), 1, event.anchor)

    def _key(self, event: Any) -> None:
        top = self.stack[-1]
        key = event.value
        if event.tag == _MERGE_TAG or (key == "<<" and event.implicit[0]):
            key = "<<"
        elif key in top.container and key not in top.merged:
            first = self.lines.get((*top.path, key))
            raise TreeError(
                codes.DUPLICATE_KEY,
                f"key {key!r} appears twice in the same mapping (first on line {first})",
                self._line(event),
                "YAML would silently keep only the last value; remove one of them",
            )
        top.key = key
        self.lines[(*top.path, key)] = self._line(event)

    def _start(self, event: Any) -> None:
        path = self._child_path(event)
        if path is None:
            raise TreeError(
                codes.UNSUPPORTED_YAML,
                "a mapping key must be a plain value, not a mapping or list",
                self._line(event),
                "write the key as plain text (`name: value`); `? ` complex keys have no meaning here",
            )
        if len(self.stack) >= self.limits.max_depth:
            raise TreeError(
                codes.TOO_DEEP,
                f"nesting deeper than {self.limits.max_depth} levels",
                self._line(event),
                "manifests are a few levels deep; this looks generated or corrupted",
            )
        self._check_tag(
            event,
            "tag:yaml.org,2002:map" if isinstance(event, yaml.MappingStartEvent) else "tag:yaml.org,2002:seq",
        )
        self.lines.setdefault(path, self._line(event))
        container: Any = {} if isinstance(event, yaml.MappingStartEvent) else []
        self.stack.append(_Frame(container, path, event.anchor))

    def _end(self) -> None:
        frame = self.stack.pop()
        self._place(frame.container, frame.nodes, frame.anchor)

    def _alias(self, event: Any) -> None:
        if self._child_path(event) is None:
            raise TreeError(
                codes.UNSUPPORTED_YAML,
                "an alias cannot be used as a mapping key",
                self._line(event),
                "write the key out as plain text",
            )
        found = self.anchors.get(event.anchor)
        if found is None:
            raise TreeError(
                codes.YAML_BOMB,
                f"alias *{event.anchor} refers to no finished anchor",
                self._line(event),
                "define the anchor (&name) before using it; an anchor cannot contain itself",
            )
        self.aliases += 1
        self.expanded += found[1]
        if self.aliases > self.limits.max_aliases or self.expanded > MAX_EXPANDED_NODES:
            raise TreeError(
                codes.YAML_BOMB,
                "too many aliases or alias expansion too large",
                self._line(event),
                f"at most {self.limits.max_aliases} aliases and {MAX_EXPANDED_NODES} expanded "
                "nodes per document",
            )
        path = self._child_path(event)
        if path is not None:
            self.lines.setdefault(path, self._line(event))
        self._place(found[0], found[1], None)

    # --- scalars ------------------------------------------------------------------------------
    def _check_tag(self, event: Any, default: str) -> None:
        tag = event.tag
        if tag not in (None, "!", default):
            raise TreeError(
                codes.UNSUPPORTED_YAML,
                f"unsupported YAML tag {tag}",
                self._line(event),
                "Kubernetes manifests use plain YAML; remove the tag",
            )

    def _resolve(self, event: Any) -> Any:
        tag = event.tag
        if tag in (None, "!"):
            if not event.implicit[0] or tag == "!":
                return event.value
            if self.json_mode:
                return _json_scalar(event.value)
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag in _TEXT_TAGS or (event.tag is None and tag not in _SCALAR_TAGS):
            return event.value  # implicit "<<" or "=" as a value: plain text, as JSON would read it
        if tag not in _SCALAR_TAGS:
            self._check_tag(event, "tag:yaml.org,2002:str")
        return _construct(tag, event, self._line(event))


def _json_scalar(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _construct(tag: str, event: Any, line: int) -> Any:
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
    except (ValueError, yaml.YAMLError) as exc:  # e.g. an integer with 5,000 digits
        raise TreeError(
            codes.UNSUPPORTED_YAML,
            f"value {event.value[:40]!r} cannot be read as {tag[18:]}: {str(exc)[:80]}",
            line,
        ) from None
