"""Fields some versions of a kind have and others lack, and what a reader of a version without them does.

Owns the one sentence per such field that two diagnostics print: `convert` warns that the target version
cannot express a field (SM5006) and the loader warns that a field of another version is ignored (SM2009).
Both say what happens without the field, because in every case it is wider than what was written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Gap:
    """`names`: the keys the field goes by (its own name, or the parent an older layout lacks)."""

    kind: str
    names: tuple[str, ...]
    path: str
    without: str
    defined_in: str


GAPS = (
    Gap(
        "TrafficTarget",
        ("port",),
        "spec.destination.port",
        "the sources may call the destination on every port, not only on this one",
        "access.smi-spec.io/v1alpha1 and v1alpha2",
    ),
    Gap(
        "TrafficSplit",
        ("matches",),
        "spec.matches",
        "the weights apply to every request for the root service, not only to those the matches select",
        "split.smi-spec.io/v1alpha3 and v1alpha4",
    ),
    Gap(
        "TCPRoute",
        ("matches", "spec"),
        "spec.matches.ports",
        "the TCPRoute covers every port",
        "specs.smi-spec.io/v1alpha4",
    ),
    Gap(
        "HTTPRouteGroup",
        ("headers",),
        "spec.matches[].headers",
        "the match applies to requests whatever their headers",
        "specs.smi-spec.io/v1alpha2, v1alpha3 and v1alpha4",
    ),
)
# The `smimesh.io/conversion-<field>` annotation of each gap (see `versions/support.py`).
ANNOTATED = {
    "destination-port": GAPS[0],
    "matches": GAPS[1],
    "ports": GAPS[2],
    "headers": GAPS[3],
}


def gap_of(kind: str, name: str) -> Gap | None:
    """The gap a field named `name` of `kind` fills, if it is one of the known ones."""
    return next((gap for gap in GAPS if gap.kind == kind and name in gap.names), None)
