"""Loading: documents → decoded, converted, validated objects plus every diagnostic, never an exception.

Owns `load_paths` / `load_text` and their result: each document is decoded into the model of the
version the user wrote (`registry.decode`), converted to the hub, checked (`validate`), then the set
is checked for duplicates and cross-object references (`references`). A bad document is left out and
reported; it never hides the problems of the others. Objects with only warnings are kept.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from smimesh.diagnostics import Diagnostic, Location, has_errors, shorten, sort_key
from smimesh.errors import ConversionError
from smimesh.resources import codes, registry
from smimesh.resources.document import Document, ReadResult, format_path
from smimesh.resources.meta import Resource, ResourceKey, SpokeResource
from smimesh.resources.other_versions import decode_tolerant, fitting_versions
from smimesh.resources.reader import read_paths, read_text
from smimesh.resources.references import validate_references
from smimesh.resources.snapshot import InputSnapshot
from smimesh.resources.validate import validate_object
from smimesh.settings import Settings


@dataclass(frozen=True, slots=True)
class LoadedObject:
    """One object that loaded without errors: hub model, model as written, and where it came from."""

    resource: Resource
    original: Resource
    location: Location
    document: Document = field(repr=False, compare=False)

    @property
    def key(self) -> ResourceKey:
        return self.resource.key


@dataclass(slots=True)
class LoadResult:
    """`objects`: the objects without errors; `diagnostics`: every problem found, sorted by place."""

    objects: list[LoadedObject] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def snapshot(self) -> InputSnapshot:
        return InputSnapshot.from_objects(self.objects)


def load_paths(
    paths: Iterable[str], *, settings: Settings | None = None, references: bool = True
) -> LoadResult:
    """Load every manifest under `paths` (files, directories recursively, `-` = stdin)."""
    return load_read(read_paths(paths, settings, _is_list), references=references)


def load_text(
    text: str | bytes, source: str = "<api>", *, settings: Settings | None = None, references: bool = True
) -> LoadResult:
    """Load manifests given as text or bytes (an API body, a test); `source` names them in diagnostics."""
    return load_read(read_text(text, source, settings, _is_list), references=references)


def load_documents(documents: Sequence[Document], *, references: bool = True) -> LoadResult:
    """Load documents already read (e.g. edited in memory)."""
    return load_read(ReadResult(list(documents)), references=references)


def load_read(read: ReadResult, *, references: bool = True) -> LoadResult:
    """Decode and check every document read, drop duplicates, then check references across the set."""
    result = LoadResult(diagnostics=list(read.diagnostics))
    for document in read.documents:
        loaded, found = load_document(document)
        result.diagnostics.extend(found)
        if loaded is not None:
            result.objects.append(loaded)
    result.objects = _without_duplicates(result.objects, result.diagnostics)
    if references:
        result.diagnostics.extend(validate_references(result.snapshot(), _Locator(result.objects)))
    result.diagnostics.sort(key=sort_key)
    return result


def _is_list(api_version: str, kind: str) -> bool:
    return kind.endswith("List") and (api_version, kind) not in registry.output_kinds()


def load_document(document: Document) -> tuple[LoadedObject | None, list[Diagnostic]]:
    """Decode, convert and check one document; the object is None when it has errors."""
    try:
        return _load_document(document)
    except Exception as exc:  # a bug on one document must not hide the other documents' problems
        return None, [
            Diagnostic(
                codes.INTERNAL,
                f"unexpected {type(exc).__name__}: {str(exc)[:200]}",
                location=document.location(),
                object=document.ref(),
                hint="this is a bug in smimesh: please report it with this document",
            )
        ]


def _load_document(document: Document) -> tuple[LoadedObject | None, list[Diagnostic]]:
    data: dict[str, Any] = document.data
    cls = registry.lookup(str(data.get("apiVersion")), str(data.get("kind")))
    if cls is None:
        return None, [_unknown_type(document, data)]
    original, document, found = decode_tolerant(document, cls)
    if original is None:
        return None, found
    try:
        hub = original.to_hub() if isinstance(original, SpokeResource) else original
    except ConversionError as exc:
        return None, [*found, *(d.at(document.location()) for d in exc.diagnostics)]
    found += validate_object(document, hub)
    if has_errors(found):
        return None, found
    return LoadedObject(hub, original, document.location(), document), found


# --- unknown or missing apiVersion / kind ---------------------------------------------------------
def _unknown_type(document: Document, data: dict[str, Any]) -> Diagnostic:
    api_version, kind = data.get("apiVersion"), data.get("kind")
    for name, value in (("apiVersion", api_version), ("kind", kind)):
        if value is not None and not isinstance(value, str):
            return _report(
                document,
                codes.WRONG_TYPE,
                f"`{name}` must be text",
                name,
                shorten(value),
                "text",
                "quote the value" if isinstance(value, int | float) else "",
            )
    if not api_version or not kind:
        return _missing_type(document, api_version, kind)
    info = registry.info_of(kind)
    if info is not None and info.kind == kind:
        versions = registry.versions_of(kind)
        return _report(
            document,
            codes.UNKNOWN_VERSION,
            f"{kind} does not exist in apiVersion {api_version!r}",
            "apiVersion",
            api_version,
            " or ".join(versions),
            _version_hint(api_version, versions),
        )
    hint = f"did you mean `{info.kind}`?" if info is not None else _close_kind(kind)
    return _report(
        document,
        codes.UNKNOWN_KIND,
        f"unknown kind {kind!r}",
        "kind",
        kind,
        ", ".join(sorted(registry.KINDS)),
        hint,
    )


def _missing_type(document: Document, api_version: Any, kind: Any) -> Diagnostic:
    missing = [name for name, value in (("apiVersion", api_version), ("kind", kind)) if not value]
    info = registry.info_of(kind) if isinstance(kind, str) and kind else None
    if info is not None:
        hint = _version_for_kind(document.data, info.kind)
    elif isinstance(api_version, str) and api_version:
        kinds = sorted({k for v, k in registry.known() if v == api_version})
        hint = f"add `kind:` ({', '.join(kinds) or 'see smimesh explain-code SM2002'})"
    elif guess := _guess_kind(document.data):
        hub = registry.hub_of(guess).API_VERSION
        hint = f"this looks like a {guess}: add `apiVersion: {hub}` and `kind: {guess}`"
    else:
        hint = "start the document with apiVersion and kind, e.g. `apiVersion: split.smi-spec.io/v1alpha4`"
    message = " and ".join(f"`{name}`" for name in missing) + " missing"
    return _report(document, codes.MISSING_TYPE, message, missing[0], None, "", hint)


def _version_for_kind(data: dict[str, Any], kind: str) -> str:
    """Which apiVersion to add: the one(s) whose layout the document fits, else the newest."""
    fits = fitting_versions(data, kind)
    if len(fits) == 1:
        return f"add `apiVersion: {fits[0]}`: the only version of {kind} whose layout this document fits"
    if fits:
        versions = ", ".join(v.rpartition("/")[2] for v in fits)
        return f"add `apiVersion: {fits[-1]}` (the newest whose layout this document fits: {versions})"
    hub = registry.hub_of(kind).API_VERSION
    older = [v for v in registry.versions_of(kind) if v != hub]
    return f"add `apiVersion: {hub}` (the newest" + (f"; also served: {', '.join(older)})" if older else ")")


# A field only one kind has, as written in any version: how a document without `kind` gives itself away.
_TELLTALE_FIELDS = (
    (("spec", "backends"), "TrafficSplit"),
    (("spec", "destination"), "TrafficTarget"),
    (("destination",), "TrafficTarget"),
    (("spec", "matches", "ports"), "TCPRoute"),
    (("spec", "matches"), "HTTPRouteGroup"),
    (("matches",), "HTTPRouteGroup"),
    (("spec", "command"), "Workload"),
    (("spec", "selector"), "Service"),
    (("spec", "ports"), "Service"),
)


def _guess_kind(data: dict[str, Any]) -> str | None:
    for path, kind in _TELLTALE_FIELDS:
        current: Any = data
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        if current is not None:
            return kind
    return None


def _version_hint(api_version: str, versions: list[str]) -> str:
    group = registry.group_of(api_version)
    fixed = registry.MISSPELT_GROUPS.get(group)
    if fixed:
        return f"the group is {fixed!r}: write `apiVersion: {api_version.replace(group, fixed, 1)}`"
    close = difflib.get_close_matches(api_version, versions, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else f"use one of: {', '.join(versions)}"


def _close_kind(kind: str) -> str:
    if any(k == kind for _, k in registry.output_kinds()):
        return f"{kind} is an output of the metrics API of a running mesh, not configuration"
    close = difflib.get_close_matches(kind, sorted(registry.KINDS), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return (
        "smimesh reads SMI kinds, v1 Service, smimesh.io/v1alpha1 Workload "
        "and gateway.networking.k8s.io/v1 HTTPRoute"
    )


def _report(
    document: Document, code: str, message: str, field_name: str, value: Any, expected: str, hint: str
) -> Diagnostic:
    return Diagnostic(
        code,
        message,
        location=document.location([field_name]),
        object=document.ref(),
        path=field_name,
        value=None if value is None else str(value)[:80],
        expected=expected,
        hint=hint,
    )


# --- duplicates and reference locations -----------------------------------------------------------
def _without_duplicates(objects: list[LoadedObject], diagnostics: list[Diagnostic]) -> list[LoadedObject]:
    first: dict[ResourceKey, LoadedObject] = {}
    for loaded in objects:
        earlier = first.setdefault(loaded.key, loaded)
        if earlier is not loaded:
            first_place = earlier.document.location(["metadata", "name"])
            diagnostics.append(
                Diagnostic(
                    codes.DUPLICATE_OBJECT,
                    f"{loaded.key} is defined twice: here and at {first_place}",
                    location=loaded.document.location(["metadata", "name"]),
                    object=loaded.document.ref(),
                    path="metadata.name",
                    value=loaded.key.name,
                    hint="the first definition is used; remove or rename this one",
                )
            )
    return list(first.values())


class _Locator:
    """Maps a hub field path of a loaded object to the path and line the user wrote (any version)."""

    def __init__(self, objects: Iterable[LoadedObject]) -> None:
        self.by_key = {obj.key: obj for obj in objects}

    def __call__(self, key: ResourceKey, path: tuple[str | int, ...]) -> tuple[Location, str]:
        loaded = self.by_key.get(key)
        if loaded is None:
            return Location(), format_path(path)
        written = _as_written(loaded.document.data, path)
        return loaded.document.location(written), format_path(written)


def _as_written(data: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Older versions keep fields at the top level (no `spec`) and call TrafficTarget rules `specs`."""
    if not path or path[0] != "spec" or not isinstance(data, dict) or "spec" in data:
        return path
    rest = path[1:]
    if rest[:1] == ("rules",) and "specs" in data:
        rest = ("specs", *rest[1:])
    return rest
