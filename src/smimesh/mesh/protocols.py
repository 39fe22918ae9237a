"""Which protocol a service port speaks: `appProtocol`, else a port-name prefix, else HTTP.

The OSM convention that SPEC-DIGEST §3.6 and §8 A2 recommend. Used by `build_model` and by the
local runtime (to know which service ports need a TCP upstream port).
"""

from __future__ import annotations

from smimesh.mesh.model import Protocol

# appProtocol values and name prefixes we recognise (Kubernetes allows IANA names and
# domain-prefixed names; the domain prefix is ignored, so `kubernetes.io/h2c` reads as `h2c`).
_BY_NAME: dict[str, Protocol] = {
    "http": Protocol.HTTP,
    "http1": Protocol.HTTP,
    "http2": Protocol.HTTP,
    "h2c": Protocol.GRPC,
    "grpc": Protocol.GRPC,
    "grpc-web": Protocol.GRPC,
    "tcp": Protocol.TCP,
    "tls": Protocol.TCP,
    "https": Protocol.TCP,
    "mongo": Protocol.TCP,
    "mysql": Protocol.TCP,
    "redis": Protocol.TCP,
    "udp": Protocol.UDP,
}
_PREFIXES = (
    ("http-", Protocol.HTTP),
    ("grpc-", Protocol.GRPC),
    ("tcp-", Protocol.TCP),
    ("udp-", Protocol.UDP),
)


def protocol_of(
    port_name: str | None, app_protocol: str | None = None, transport: str | None = None
) -> Protocol:
    """The protocol of a service port. `transport` is the Service port's `protocol` field (TCP/UDP/SCTP)."""
    if transport and transport.upper() == "UDP":
        return Protocol.UDP
    if app_protocol:
        known = _BY_NAME.get(app_protocol.rsplit("/", 1)[-1].lower())
        if known is not None:
            return known
    name = (port_name or "").lower()
    if name in _BY_NAME:
        return _BY_NAME[name]
    for prefix, protocol in _PREFIXES:
        if name.startswith(prefix):
            return protocol
    return Protocol.HTTP
