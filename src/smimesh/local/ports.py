"""Loopback port allocation for every workload instance and its sidecar.

Owns which port each listener of the local mesh gets: the app's port per Workload port, the
sidecar's inbound port per Workload port, the outbound HTTP proxy port (the workload's HTTP_PROXY),
the sidecar's admin port and one local port per non-HTTP upstream. Ports come from the kernel
(bind to port 0; also free for UDP, since any of them may carry UDP) and are remembered, so two
instances never get the same port even if the kernel would hand a just-closed port out again, and
an instance that restarts keeps its ports (its callers' endpoints stay valid).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from smimesh.errors import ProcessError
from smimesh.settings import LOOPBACK

_MAX_ATTEMPTS = 200


@dataclass(frozen=True, slots=True)
class InstancePorts:
    """Every loopback port of one instance. Maps are keyed by Workload port name / upstream key."""

    app: dict[str, int]
    inbound: dict[str, int]
    outbound_http: int
    admin: int
    tcp_upstreams: dict[str, int] = field(default_factory=dict)

    def all_ports(self) -> list[int]:
        return [
            *self.app.values(),
            *self.inbound.values(),
            self.outbound_http,
            self.admin,
            *self.tcp_upstreams.values(),
        ]


class PortAllocator:
    """Hands out free loopback TCP ports, never the same one twice while it is held."""

    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self._held: set[int] = set()
        self._by_instance: dict[str, InstancePorts] = {}

    def take(self) -> int:
        """One port that is free now and not held by any instance."""
        for _ in range(_MAX_ATTEMPTS):
            port = self._probe()
            if port not in self._held and self._free_for_udp(port):
                self._held.add(port)
                return port
        raise ProcessError(f"could not find a free port on {self.host}", hint="too many ports in use?")

    def release(self, ports: Iterable[int]) -> None:
        self._held.difference_update(ports)

    def for_instance(
        self, instance: str, port_names: Iterable[str], upstreams: Iterable[str] = ()
    ) -> InstancePorts:
        """The instance's ports: allocated on first call, the same ones afterwards.

        A port name or upstream key the instance did not have before gets a new port; ones it
        no longer has are kept (cheap, and a restart with the old set finds them unchanged).
        """
        names, keys = list(port_names), list(upstreams)
        known = self._by_instance.get(instance)
        if known is None:
            known = InstancePorts(app={}, inbound={}, outbound_http=self.take(), admin=self.take())
        app = {**known.app, **{n: self.take() for n in names if n not in known.app}}
        inbound = {**known.inbound, **{n: self.take() for n in names if n not in known.inbound}}
        tcp = {**known.tcp_upstreams, **{k: self.take() for k in keys if k not in known.tcp_upstreams}}
        ports = InstancePorts(app, inbound, known.outbound_http, known.admin, tcp)
        self._by_instance[instance] = ports
        return ports

    def forget(self, instance: str) -> None:
        """The instance is gone for good (scaled down): its ports may be handed out again."""
        ports = self._by_instance.pop(instance, None)
        if ports is not None:
            self.release(ports.all_ports())

    def _free_for_udp(self, port: int) -> bool:
        """Whether no UDP socket holds the port: any port may carry UDP (UDP apps, UDP sidecar listeners)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((self.host, port))
            except OSError:
                return False
        return True

    def _probe(self) -> int:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((self.host, 0))
            return int(sock.getsockname()[1])
