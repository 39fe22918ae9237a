"""SM90xx: sidecar injection (`smimesh inject`, the mutating webhook), registered for `explain-code`."""

from __future__ import annotations

from smimesh.diagnostics import Severity, register

CANNOT_INJECT = "SM9001"
NOT_INJECTED = "SM9002"

register(
    CANNOT_INJECT,
    "A pod template cannot be injected",
    Severity.ERROR,
    """Something in the pod template stops smimesh from meshing it faithfully: an HTTP probe naming a
    port the container does not declare (the probe could not be forwarded to the app), a volume named
    like one the injection adds, or a capture-exclusion annotation that is not a list of ports or
    CIDRs. The object is printed unchanged (the webhook refuses the pod) until it is fixed.""",
)
register(
    NOT_INJECTED,
    "A pod template was left unchanged",
    Severity.INFO,
    """The object was not meshed, on purpose: it runs on the host network (capturing its traffic
    would capture the node's), it is opted out with `smimesh.io/inject: disabled`, it belongs to the
    smimesh control plane, or it already carries the sidecar (injecting twice changes nothing).""",
)
