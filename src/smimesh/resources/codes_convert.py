"""Diagnostic codes of version conversion (SM5xxx), each with the paragraph `smimesh explain-code` prints."""

from __future__ import annotations

from smimesh.diagnostics import Severity, register

UNKNOWN_TARGET_VERSION = register(
    "SM5001",
    "no such version to convert to",
    Severity.ERROR,
    """The version asked for does not exist for this kind. Each SMI kind is served in the versions its API
    group published (TrafficTarget: access.smi-spec.io v1alpha1-v1alpha3; HTTPRouteGroup and TCPRoute:
    specs.smi-spec.io v1alpha1-v1alpha4; UDPRoute: v1alpha4 only; TrafficSplit: split.smi-spec.io
    v1alpha1-v1alpha4). Service and Workload have a single version. Pick one of the listed versions.""",
).code

NOT_EXPRESSIBLE = register(
    "SM5002",
    "the target version cannot express this object",
    Severity.ERROR,
    """Converting would drop something the older version has no field for, and dropping it would change
    what the object allows (for example a TrafficTarget rule of kind UDPRoute, which access v1alpha1 and
    v1alpha2 never defined). smimesh refuses instead of silently widening or narrowing access. Keep the
    object in a newer version, or remove the part the older version cannot express. With `smimesh convert
    --strict` this is also the refusal of every field that would survive only in a conversion annotation,
    which readers other than smimesh ignore (otherwise the warning SM5006).""",
).code

INVALID_IN_TARGET = register(
    "SM5003",
    "the converted object is not valid in the target version",
    Severity.ERROR,
    """The object is valid in the version it was written in, but the version it must be converted to
    requires more: for example access.smi-spec.io/v1alpha3 (the version smimesh works with) requires at
    least one rule and at least one source in every TrafficTarget, while v1alpha1/v1alpha2 allowed none.
    A TrafficTarget without rules or sources allows nothing; add them, or delete the object.""",
).code

DAMAGED_ANNOTATION = register(
    "SM5004",
    "a conversion annotation is damaged",
    Severity.ERROR,
    """When an older version cannot hold a field (TrafficTarget destination.port, TrafficSplit matches,
    TCPRoute ports, HTTPRouteGroup headers), smimesh keeps the value in a `smimesh.io/conversion-<field>`
    annotation and restores it when converting back. This annotation could not be read (it is not the
    JSON smimesh wrote). Restoring nothing could widen access, so the conversion is refused. Remove the
    annotation and write the field in a version that has it, or restore the annotation's original value.""",
).code

CONFLICTING_ANNOTATION = register(
    "SM5005",
    "a field and its conversion annotation disagree",
    Severity.ERROR,
    """The object carries a field and also a `smimesh.io/conversion-<field>` annotation holding a different
    value for it, so it is not clear which one is meant. Remove the annotation (the field wins when written
    in a version that has it) or make them equal.""",
).code

LOST_FOR_OTHER_READERS = register(
    "SM5006",
    "the target version cannot express a field; other readers will ignore it",
    Severity.WARNING,
    """The object was converted to a version that has no field for something it says: TrafficSplit
    `spec.matches` (split v1alpha1/v1alpha2), TrafficTarget `destination.port` (access v1alpha3),
    TCPRoute ports (specs v1alpha1-v1alpha3) or HTTPRouteGroup headers (specs v1alpha1). smimesh keeps the
    value in a `smimesh.io/conversion-<field>` annotation and restores it when it reads the object, so for
    smimesh nothing changes. Every other reader of that version (another mesh, the Go SDK, kubectl explain)
    ignores the annotation and so reads a wider object: the message says what it will do instead (for a
    conditional split: apply the weights to every request). If another tool reads the result, keep the
    object in a version that has the field; `smimesh convert --strict` refuses such conversions (SM5002).""",
).code
