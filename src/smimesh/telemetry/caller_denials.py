"""Denials at the caller, attributed to the edge they deny: caller -> the service the host names.

A caller asking for a service no TrafficTarget lets its identity call is answered by its own
sidecar (403, the `unknown_host` route: xds/routes.py; a TCP upstream port: closed at once), which
always logs it (xds/access_log.py).
The destination never sees the request, so this module says where it would have gone, and the
denial counts where destination-side denials count (the dashboard's denied edges, `policy
suggest`'s observed calls, `smimesh stat --routes`'s denied count, the tap's `backend`).

Owns `attribute(model, event) -> (event, Call | None)`: the outbound event with `backend` set to
the `ns/service` its host names, and the `Call` it stands for: the caller's SPIFFE id denied at the
service port's first endpoint instance (by node id: where a request would have gone), on that
instance's inbound port, `at_caller=True`. A host that names no mesh service, or a service
without endpoints, yields no Call (there is nothing to attribute it to).
"""

from __future__ import annotations

from dataclasses import replace

from smimesh.mesh.model import Instance, MeshModel, Service, ServiceKey, ServicePort
from smimesh.mesh.names import service_of_host
from smimesh.telemetry.observations import Call
from smimesh.telemetry.requests import RequestEvent

DENIED = "denied"


def _port(service: Service | None, number: int | None) -> ServicePort | None:
    if service is None:
        return None
    if number is not None:
        return service.port(number)
    http = sorted(p.port for p in service.ports if p.protocol.is_http)
    return service.port(80 if 80 in http else http[0]) if http else None


def _port_name(instance: Instance | None, container_port: int) -> str:
    ports = instance.inbound if instance is not None else ()
    return next((p.name for p in ports if p.container_port == container_port), "")


def _named(event: RequestEvent, namespace: str, cluster_domain: str) -> tuple[ServiceKey, int | None] | None:
    """HTTP: the service the host names; TCP: the service and port of the refused upstream port."""
    if event.protocol == "tcp":
        service, _, name = event.backend.partition("/")
        return (ServiceKey(service, name), int(event.port)) if name and event.port.isdigit() else None
    return service_of_host(event.authority, namespace, cluster_domain)


def attribute(model: MeshModel, event: RequestEvent) -> tuple[RequestEvent, Call | None]:
    """The event with the service it names, and the Call it stands for (None: not a caller denial)."""
    caller = model.instances.get(event.node_id)
    if event.direction != "outbound" or event.verdict != DENIED or caller is None:
        return event, None
    named = _named(event, caller.namespace, model.cluster_domain)
    service = model.services.get(named[0]) if named else None
    port = _port(service, named[1] if named else None)
    if service is None or port is None:
        return event, None
    described = replace(event, backend=str(service.key))
    endpoint = min(port.endpoints, key=lambda e: e.node_id, default=None)
    if endpoint is None:
        return described, None
    name = _port_name(model.instances.get(endpoint.node_id), endpoint.container_port)
    source = caller.identity.spiffe(model.trust_domain)
    path = event.path.split("?", 1)[0] or ("/" if event.protocol == "http" else "")
    return described, Call(source, endpoint.node_id, name, event.method, path, DENIED, at_caller=True)
