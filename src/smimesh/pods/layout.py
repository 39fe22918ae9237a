"""The in-pod layout: what the injector writes, the capture step programs and the sidecar listens on.

One `PodLayout` value is shared by all three, so a port changed here changes everywhere at once.
Defaults follow the anchors' conventions (a fixed proxy UID exempt from capture, outbound and inbound
capture ports, a plaintext health port kubelet can reach, the admin on loopback only).
"""

from __future__ import annotations

from dataclasses import dataclass

from smimesh.xds.egress_capture import OUTBOUND_CAPTURE_PORT
from smimesh.xds.transparent import INBOUND_CAPTURE_PORT

INJECT_ANNOTATION = "smimesh.io/inject"  # enabled | disabled (also accepted as a label)
STATUS_ANNOTATION = "smimesh.io/injected"  # set on injected pods: the layout version
EXCLUDE_OUTBOUND_PORTS = "smimesh.io/exclude-outbound-ports"  # "5432,6379"
EXCLUDE_INBOUND_PORTS = "smimesh.io/exclude-inbound-ports"
EXCLUDE_OUTBOUND_CIDRS = "smimesh.io/exclude-outbound-cidrs"  # "10.96.0.1/32,169.254.169.254/32"
CONTROL_PLANE_LABEL = "smimesh.io/control-plane"  # the control plane's own pods: never injected

CAPTURE_CONTAINER = "smimesh-capture"
PROXY_CONTAINER = "smimesh-proxy"
TOKEN_VOLUME = "smimesh-token"
BOOTSTRAP_VOLUME = "smimesh-bootstrap"
XTABLES_VOLUME = "smimesh-xtables-lock"
TOKEN_DIR = "/var/run/secrets/smimesh.io/serviceaccount"
BOOTSTRAP_DIR = "/var/run/smimesh/bootstrap"
PROBES_ENV = "SMIMESH_APP_PROBES"  # JSON: health path -> the app's original probe target
LAYOUT_VERSION = "v1"

# A connection to this address is redirected to the health port by a rule placed before every
# exemption, so `smimesh sidecar-ready` (running as the proxy's UID) can prove the rules are in force.
# TEST-NET-1: never routed anywhere, and the rule only exists inside the pod's network namespace.
CAPTURE_CANARY = ("192.0.2.1", 15999)


@dataclass(frozen=True, slots=True)
class PodLayout:
    outbound_port: int = OUTBOUND_CAPTURE_PORT  # every outbound TCP connection (original_dst)
    inbound_port: int = INBOUND_CAPTURE_PORT  # every inbound TCP connection to the pod
    admin_port: int = 15000  # Envoy's admin, bound to 127.0.0.1: never reachable from another pod
    health_port: int = 15020  # plaintext, not captured: kubelet probes, metrics, the capture canary
    proxy_uid: int = 1337
    proxy_gid: int = 1337

    def inbound_exempt(self) -> tuple[int, ...]:
        """Ports kubelet and Prometheus reach directly (the admin is on loopback: nothing to exempt)."""
        return (self.health_port,)
