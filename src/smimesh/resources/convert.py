"""Hub-and-spoke conversion between the versions of a kind: `convert(resource, "group/version")`.

Every older version converts up to its kind's hub and down from it (`versions/`); converting between two
older versions goes through the hub. Fields an older version cannot hold travel in
`smimesh.io/conversion-<field>` annotations (`versions/support.py`), so nothing is silently lost and no
conversion widens access; what cannot be carried is refused with `errors.ConversionError` (SM5xxx).
"""

from __future__ import annotations

from smimesh.resources import codes_convert as codes
from smimesh.resources import registry
from smimesh.resources.meta import Resource, SpokeResource
from smimesh.resources.versions.support import conversion_error


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
