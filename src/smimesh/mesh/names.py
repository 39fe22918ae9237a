"""Names in the mesh's own terms: the hostnames a service answers to and SPIFFE identities.

Envoy resource names and stat prefixes are not here: they live in `smimesh.xds.names`.
"""

from __future__ import annotations

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


def spiffe_id(identity: Identity, trust_domain: str) -> str:
    return identity.spiffe(trust_domain)


def parse_spiffe_id(uri: str) -> tuple[str, Identity] | None:
    """(trust domain, identity) of `spiffe://<td>/ns/<ns>/sa/<sa>`, or None if it has another shape."""
    if not uri.startswith("spiffe://"):
        return None
    parts = uri[len("spiffe://") :].split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or not all(parts):
        return None
    return parts[0], Identity(parts[2], parts[4])
