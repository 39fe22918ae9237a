"""Names in the mesh's own terms: the hostnames a service answers to and SPIFFE identities.

Envoy resource names and stat prefixes are not here: they live in `smimesh.xds.names`.
"""

from __future__ import annotations

from smimesh.identity.errors import InvalidSpiffeIdError
from smimesh.identity.spiffe import SpiffeId
from smimesh.mesh.model import DEFAULT_CLUSTER_DOMAIN, Identity, ServiceKey


def service_hostnames(
    key: ServiceKey, caller_namespace: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> list[str]:
    """`svc` (only from the caller's own namespace), `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`."""
    names = [
        f"{key.name}.{key.namespace}",
        f"{key.name}.{key.namespace}.svc",
        f"{key.name}.{key.namespace}.svc.{cluster_domain}",
    ]
    return [key.name, *names] if key.namespace == caller_namespace else names


def service_of_host(
    authority: str, caller_namespace: str, cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
) -> tuple[ServiceKey, int | None] | None:
    """The service (and port, when given) a caller in `caller_namespace` names with `authority`
    (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<cluster domain>`, each optionally `:port`): the
    inverse of `service_hostnames`. None for anything else (an IP, another domain)."""
    host, _, port_text = authority.partition(":")
    port = int(port_text) if port_text.isdigit() else None
    parts = host.lower().split(".")
    suffix = ["svc", *cluster_domain.split(".")]
    if len(parts) == 1 and parts[0]:
        return ServiceKey(caller_namespace, parts[0]), port
    if all(parts[:2]) and parts[2:] in ([], suffix[:1], suffix):
        return ServiceKey(parts[1], parts[0]), port
    return None


def parse_spiffe_id(uri: str) -> tuple[str, Identity] | None:
    """(trust domain, identity) of `spiffe://<td>/ns/<ns>/sa/<sa>`, or None if it is not such an id."""
    try:
        parsed = SpiffeId.parse(uri)
    except InvalidSpiffeIdError:
        return None
    return parsed.trust_domain, Identity(parsed.namespace, parsed.service_account)
