"""OSM's `config.openservicemesh.io` MeshConfig (v1alpha1, v1alpha2) as an alternative MeshConfig file.

Owns `osm_modes(spec, problems) -> (MeshModes, warnings)`: the OSM fields that mean something in
smimesh become its modes, and one warning (SM6102) lists every field that was set but has no
smimesh counterpart (sidecar images, init containers, tracing, ...), so nothing is silently dropped:

- `traffic.enablePermissiveTrafficPolicyMode`: true = trafficPolicy `open`, false = `smi`;
- `traffic.enableEgress`: true = egress `open`, false = `policy`;
- `certificate.serviceCertValidityDuration` (Go duration, e.g. `24h`): the lifetime of the leaf
  certificates issued from then on.
mTLS stays `strict` (OSM has no plaintext mode). A value of the wrong type is an SM6101 error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from smimesh.diagnostics import Diagnostic, Location, ObjectRef, Severity, register
from smimesh.resources.durations import duration_problem, parse_duration

API_VERSIONS = ("config.openservicemesh.io/v1alpha1", "config.openservicemesh.io/v1alpha2")
UNMAPPED = register(
    "SM6102",
    "OSM MeshConfig fields without a smimesh counterpart",
    Severity.WARNING,
    """The MeshConfig is OSM's (config.openservicemesh.io). smimesh takes
    traffic.enablePermissiveTrafficPolicyMode (trafficPolicy open|smi), traffic.enableEgress (egress
    open|policy) and certificate.serviceCertValidityDuration (leaf certificate lifetime) from it; the
    fields listed are set in the file but mean nothing to smimesh (sidecar images, init containers,
    tracing, feature flags, ...) and are ignored.""",
).code
MAPPED = (
    ("traffic", "enablePermissiveTrafficPolicyMode"),
    ("traffic", "enableEgress"),
    ("certificate", "serviceCertValidityDuration"),
)


class Problems(Protocol):
    source: str
    lines: Mapping[tuple[str, ...], int]

    def add(self, path: tuple[str, ...], message: str, value: object, expected: str) -> None: ...


def _leaves(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for key, value in data.items():
        child = (*path, str(key))
        found.extend(_leaves(value, child) if isinstance(value, Mapping) and value else [child])
    return found


def _value(spec: Mapping[str, Any], path: tuple[str, str]) -> Any:
    section = spec.get(path[0])
    return section.get(path[1]) if isinstance(section, Mapping) else None


def _flag(problems: Problems, spec: Mapping[str, Any], path: tuple[str, str]) -> bool | None:
    value = _value(spec, path)
    if value is not None and not isinstance(value, bool):
        problems.add(("spec", *path), f"{path[1]} must be true or false", value, "true | false")
        return None
    return value


def _lifetime(problems: Problems, spec: Mapping[str, Any]) -> float | None:
    value = _value(spec, MAPPED[2])
    if value is None:
        return None
    problem = duration_problem(value)
    if problem or parse_duration(value) < 60:
        problems.add(
            ("spec", *MAPPED[2]), problem or "too short for a certificate", value, "a duration ≥ 1m, e.g. 24h"
        )
        return None
    return parse_duration(value)


def osm_fields(problems: Problems, spec: Mapping[str, Any]) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The MeshModes keyword arguments OSM's spec sets, and the unmapped-fields warning."""
    permissive, egress = _flag(problems, spec, MAPPED[0]), _flag(problems, spec, MAPPED[1])
    fields: dict[str, Any] = {}
    if permissive is not None:
        fields["traffic_policy"] = "open" if permissive else "smi"
    if egress is not None:
        fields["egress"] = "open" if egress else "policy"
    lifetime = _lifetime(problems, spec)
    if lifetime is not None:
        fields["leaf_lifetime_s"] = lifetime
    unmapped = [".".join(p) for p in _leaves(spec) if p[:2] not in MAPPED]
    return fields, _warning(problems, unmapped) if unmapped else []


def _warning(problems: Problems, unmapped: list[str]) -> list[Diagnostic]:
    line = problems.lines.get(("spec", *unmapped[0].split(".")))
    return [
        Diagnostic(
            UNMAPPED,
            f"OSM MeshConfig fields smimesh does not use (ignored): {', '.join(unmapped)}",
            Severity.WARNING,
            Location(problems.source, line),
            ObjectRef("MeshConfig", name="osm"),
            "spec",
            None,
            ", ".join(".".join(p) for p in MAPPED),
            f"see `smimesh explain-code {UNMAPPED}`; remove them to silence this warning",
        )
    ]
