"""Hub-and-spoke conversion between the versions of a kind: `convert(resource, "group/version")`.

Every older version converts up to its kind's hub and down from it (`versions/`); converting between two
older versions goes through the hub. Fields an older version cannot hold travel in
`smimesh.io/conversion-<field>` annotations (`versions/support.py`), so nothing is lost for smimesh and no
conversion widens access here; what cannot be carried is refused with `errors.ConversionError` (SM5xxx).
Every other reader of that version ignores the annotation, though: `losses()` names each such field and
what such a reader does instead (warning SM5006, or the refusal SM5002 when strict).
"""

from __future__ import annotations

from smimesh.diagnostics import Diagnostic, ObjectRef, Severity, shorten
from smimesh.resources import codes_convert as codes
from smimesh.resources import registry
from smimesh.resources.meta import Resource, SpokeResource
from smimesh.resources.version_gaps import ANNOTATED, Gap
from smimesh.resources.versions.support import PREFIX, conversion_error


def to_hub(resource: Resource) -> Resource:
    """The hub model of any resource (itself when it already is one)."""
    return resource.to_hub() if isinstance(resource, SpokeResource) else resource


def convert(resource: Resource, api_version: str) -> Resource:
    """`resource` in `api_version` (e.g. "split.smi-spec.io/v1alpha2"); raises `errors.ConversionError`."""
    target = registry.lookup(api_version, resource.KIND)
    if target is None:
        served = ", ".join(registry.versions_of(resource.KIND))
        raise conversion_error(
            resource,
            codes.UNKNOWN_TARGET_VERSION,
            f"{resource.KIND} has no version {api_version!r}",
            value=api_version,
            expected=served,
            hint=f"convert to one of: {served}",
        )
    hub = to_hub(resource)
    if type(resource) is target:
        return resource
    if issubclass(target, SpokeResource):
        return target.from_hub(hub)
    return hub


def losses(converted: Resource, *, strict: bool = False) -> list[Diagnostic]:
    """One diagnostic per field `converted`'s version cannot express, kept only in a conversion annotation:
    what a reader of that version (any mesh but smimesh) does without it. SM5006, or SM5002 if `strict`."""
    found = []
    for key, value in sorted(converted.metadata.annotations.items()):
        gap = ANNOTATED.get(key.removeprefix(PREFIX)) if key.startswith(PREFIX) else None
        if gap is not None and gap.kind == converted.KIND:
            found.append(_loss(converted, key, value, gap, strict))
    return found


def _loss(converted: Resource, key: str, value: str, gap: Gap, strict: bool) -> Diagnostic:
    version = converted.API_VERSION
    meta = converted.metadata
    hint = (
        "convert without --strict to keep the field in the annotation for smimesh, or stay in "
        if strict
        else "if another mesh reads this object, keep it in "
    ) + f"a version that has the field ({gap.defined_in})"
    message = (
        f"{version} has no `{gap.path}`: it could only be kept in annotation {key}, which every reader of "
        f"{version} but smimesh ignores, so for them {gap.without}; refused (--strict)"
        if strict
        else f"{version} has no `{gap.path}`: smimesh keeps it in annotation {key} and reads it back, but "
        f"any other reader of {version} ignores the annotation, so for it {gap.without}"
    )
    return Diagnostic(
        codes.NOT_EXPRESSIBLE if strict else codes.LOST_FOR_OTHER_READERS,
        message,
        Severity.ERROR if strict else Severity.WARNING,
        object=ObjectRef(converted.KIND, meta.namespace, meta.name),
        path=gap.path,
        value=shorten(value),
        expected=f"a version that has `{gap.path}`: {gap.defined_in}",
        hint=hint,
    )
