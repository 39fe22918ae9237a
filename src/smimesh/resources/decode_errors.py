"""pydantic validation errors → SM2xxx diagnostics with the field path and line the user wrote.

Owns the translation of pydantic's error list (types, `loc` tuples with union-member tags, ctx) into
one diagnostic per problem: code, field path (`spec.rules[0].kind`), line, the value found, what was
expected, and a hint ("did you mean ...?" for unknown fields, from the model's own field names).
Errors of the alternatives of one union at the same place are merged into one diagnostic.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from smimesh.diagnostics import Diagnostic, shorten
from smimesh.resources import codes, registry
from smimesh.resources.document import Document, format_path

_TYPE_WORDS = {
    "int": "an integer",
    "string": "text",
    "str": "text",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
    "list": "a list",
    "bool": "true or false",
    "float": "a number",
    "tuple": "a list",
    "datetime": "a timestamp",
    "none_required": "nothing (null)",
    "literal": "a value",
}
_PORT_FIELDS = ("port", "containerPort", "targetPort")
_HINTS = {
    codes.BAD_PORT: "use a port number between 1 and 65535",
    codes.NEGATIVE_WEIGHT: "use 0 to send a backend no traffic",
    codes.INVALID_VALUE: "change the value to satisfy the rule shown in `expected`",
    codes.DUPLICATE_HEADER: "keep one condition per header name, merging the regexes",
}
_CUSTOM_CODES = {"header_duplicate": codes.DUPLICATE_HEADER}


def diagnostics_from_error(
    error: ValidationError, document: Document, model: type[BaseModel]
) -> list[Diagnostic]:
    """One diagnostic per distinct (path, problem) in `error`, located in `document`."""
    grouped: dict[tuple[str | int, ...], list[dict[str, Any]]] = {}
    for item in error.errors(include_url=False):
        path = _user_path(document.data, item["loc"], item["type"])
        path = (*path, *_index_suffix(item))
        grouped.setdefault(path, []).append(dict(item))
    return [_diagnostic(path, items, document, model) for path, items in grouped.items()]


def _user_path(data: Any, loc: Sequence[str | int], kind: str) -> tuple[str | int, ...]:
    """The part of pydantic's `loc` that names places in the user's data (drops union-member tags)."""
    path: list[str | int] = []
    current = data
    for position, part in enumerate(loc):
        last = position == len(loc) - 1
        if (
            isinstance(current, dict)
            and isinstance(part, str)
            and (part in current or (last and kind in ("missing", "extra_forbidden")))
        ):
            path.append(part)
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
    return tuple(path)


def _index_suffix(item: Any) -> tuple[int, ...]:
    ctx = item.get("ctx") or {}
    return (ctx["index"],) if item["type"].startswith("header_") and isinstance(ctx.get("index"), int) else ()


def _diagnostic(
    path: tuple[str | int, ...], items: list[dict[str, Any]], document: Document, model: type[BaseModel]
) -> Diagnostic:
    first = items[0]
    kind = first["type"]
    code, message, expected, hint = _describe(kind, items, path, model)
    found = first.get("input")
    index = _index_suffix(first)
    if index and isinstance(found, list) and index[0] < len(found):
        found = found[index[0]]  # the header entry itself, not the whole list
    value = None if kind == "missing" else shorten(found)
    return Diagnostic(
        code,
        message,
        location=document.location(path),
        object=document.ref(),
        path=format_path(path),
        value=value,
        expected=expected,
        hint=hint,
    )


def _describe(
    kind: str, items: list[dict[str, Any]], path: tuple[str | int, ...], model: type[BaseModel]
) -> tuple[str, str, str, str]:
    """(code, message, expected, hint) for one group of errors at one path."""
    name = _field_name(path)
    if kind == "missing":
        return codes.MISSING_FIELD, f"required field `{name}` is missing", "", f"add `{name}:`"
    if kind == "extra_forbidden":
        return _unknown_field(str(path[-1]), path, model)
    if kind in ("literal_error", "enum"):
        allowed = " or ".join(str(i.get("ctx", {}).get("expected", "")) for i in items)
        return (
            codes.NOT_ALLOWED,
            f"`{name}` has a value that is not allowed",
            f"one of {allowed}",
            "use one of the listed values exactly (they are case-sensitive)",
        )
    if all(_is_type_error(i["type"]) for i in items):
        return _wrong_type(name, items)
    message = "; ".join(dict.fromkeys(str(i["msg"]) for i in items if not _is_type_error(i["type"])))
    code = _CUSTOM_CODES.get(kind) or _bound_code(kind, path) or codes.INVALID_VALUE
    if kind.startswith("header_"):  # smimesh's own messages already name the entry
        return code, message, "one `name: regex` entry per list item, each name once", _HINTS[code]
    return code, f"`{name}`: {_lower_first(message)}", _expected_from_ctx(items[0]), _HINTS.get(code, "")


def _field_name(path: tuple[str | int, ...]) -> str:
    """The last key of `path` with any indexes after it: `methods[1]`, `headers[0]`, `weight`."""
    tail: list[str | int] = []
    for part in reversed(path):
        tail.insert(0, part)
        if isinstance(part, str):
            break
    return format_path(tail) if tail else "document"


def _bound_code(kind: str, path: tuple[str | int, ...]) -> str | None:
    """Bounds on weights and ports have codes of their own (SM3030, SM3020): clearer than "invalid value"."""
    if kind not in ("greater_than_equal", "greater_than", "less_than_equal", "less_than") or not path:
        return None
    last, parent = path[-1], path[-2] if len(path) > 1 else None
    if last == "weight":
        return codes.NEGATIVE_WEIGHT
    if last in _PORT_FIELDS or (isinstance(last, int) and parent == "ports"):
        return codes.BAD_PORT
    return None


def _is_type_error(kind: str) -> bool:
    return kind.endswith(("_type", "_parsing")) or kind in ("int_from_float", "none_required")


def _wrong_type(name: str, items: list[dict[str, Any]]) -> tuple[str, str, str, str]:
    words = [_TYPE_WORDS.get(_type_stem(i["type"]), i["type"]) for i in items]
    expected = " or ".join(dict.fromkeys(words))
    found = items[0].get("input")
    return (
        codes.WRONG_TYPE,
        f"`{name}` has the wrong type ({_type_name(found)})",
        expected,
        _type_hint(found, words),
    )


def _type_hint(found: Any, words: list[str]) -> str:
    if isinstance(found, str) and found.strip().lstrip("-").isdigit() and "an integer" in words:
        return "write the number without quotes"
    if isinstance(found, int | float) and "text" in words:
        return "quote the value to make it text"
    if "a list" in words:
        return "write a list: one `- item` line per entry, or [a, b]"
    if "a mapping" in words:
        return "write `key: value` lines indented under this field, or {key: value}"
    return f"write {words[0]} here"


def _type_stem(kind: str) -> str:
    for suffix in ("_type", "_parsing"):
        if kind.endswith(suffix):
            return kind[: -len(suffix)]
    return kind


def _type_name(value: Any) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        str: "text",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _expected_from_ctx(item: dict[str, Any]) -> str:
    ctx = item.get("ctx") or {}
    bounds = [
        ("ge", "≥"),
        ("gt", ">"),
        ("le", "≤"),
        ("lt", "<"),
        ("min_length", "at least"),
        ("max_length", "at most"),
    ]
    parts = [f"{word} {ctx[key]}" for key, word in bounds if key in ctx]
    return ", ".join(parts)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _unknown_field(
    name: str, path: tuple[str | int, ...], model: type[BaseModel]
) -> tuple[str, str, str, str]:
    allowed = fields_at(model, path[:-1])
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean `{close[0]}`?"
    elif allowed:
        hint = "fields allowed here: " + ", ".join(allowed)
    else:
        hint = "remove it"
    expected = ", ".join(allowed)
    return codes.UNKNOWN_FIELD, f"unknown field `{name}`", expected and f"one of {expected}", hint


def foreign_fields(
    error: ValidationError, document: Document, model: type[BaseModel]
) -> list[tuple[tuple[str | int, ...], list[str]]]:
    """(path, the other apiVersions that define it) of each unknown field another version has."""
    found = []
    for item in error.errors(include_url=False):
        if item["type"] == "extra_forbidden":
            path = _user_path(document.data, item["loc"], item["type"])
            if versions := versions_with_field(model, path):
                found.append((path, versions))
    return found


def versions_with_field(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """Other apiVersions of the same kind whose schema has this field (e.g. v1alpha2 `destination.port`)."""
    kind = getattr(model, "KIND", "")
    own = getattr(model, "API_VERSION", "")
    found = []
    for api_version in registry.versions_of(kind) if kind else []:
        other = registry.lookup(api_version, kind)
        if api_version != own and other is not None and path and path[-1] in fields_at(other, path[:-1]):
            found.append(api_version)
    return found


# --- the model's own field names at a path (for "did you mean") ---------------------------------------
def fields_at(model: type[BaseModel], path: Sequence[str | int]) -> list[str]:
    """JSON field names the schema allows at `path` (an object's location), or [] if unknown."""
    current: list[Any] = [model]
    for part in path:
        current = [nxt for tp in current for nxt in _step(tp, part)]
    names = {
        field.alias or attr
        for tp in current
        for member in _members(tp)
        if isinstance(member, type) and issubclass(member, BaseModel)
        for attr, field in member.model_fields.items()
    }
    return sorted(names)


def _members(tp: Any) -> list[Any]:
    """`tp` without Annotated/Optional/Union wrappers: the concrete alternatives."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    return [tp]


def _step(tp: Any, part: str | int) -> list[Any]:
    found: list[Any] = []
    for member in _members(tp):
        origin, args = typing.get_origin(member), typing.get_args(member)
        if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(part, str):
            found += [f.annotation for attr, f in member.model_fields.items() if part in (attr, f.alias)]
        elif origin in (list, tuple) and isinstance(part, int) and args:
            found.append(args[0])
        elif origin is dict and isinstance(part, str) and len(args) == 2:
            found.append(args[1])
    return found
