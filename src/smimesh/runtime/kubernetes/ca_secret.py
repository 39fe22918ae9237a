"""The mesh CA in a cluster: one Secret every replica reads, so all replicas sign with the same root.

`ensure_ca(client, namespace, name, trust_domain)` returns `(cert_pem, key_pem)` from the Secret
(`kubernetes.io/tls`: `tls.crt`, `tls.key`), creating it with a new root when there is none. Creation is
atomic (a second replica creating at the same time gets 409 and reads the winner's), so no lease is
needed for it. `write_private(dir, cert, key)` puts the pair in a 0700 directory (key 0600) for
`MeshSecurity`, which loads a CA from files and, given one, never rotates it (as a user's CA locally):
rotating a shared root needs the replicas to agree, which is not built yet (docs/kubernetes.md).
"""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from smimesh.identity.ca import create_root
from smimesh.identity.keys import private_key_pem
from smimesh.sources.kubernetes.client import KubeApiError, KubeClient

ROOT_LIFETIME = timedelta(days=365)


def _secret(namespace: str, name: str, cert: bytes, key: bytes) -> dict[str, object]:
    data = {"tls.crt": base64.b64encode(cert).decode(), "tls.key": base64.b64encode(key).decode()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "smimesh"},
        },
        "data": data,
    }


async def read_ca(client: KubeClient, namespace: str, name: str) -> tuple[bytes, bytes] | None:
    try:
        secret = await client.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
    except KubeApiError as exc:
        if exc.code == 404:
            return None
        raise
    data = secret.get("data") or {}
    return base64.b64decode(data["tls.crt"]), base64.b64decode(data["tls.key"])


async def ensure_ca(client: KubeClient, namespace: str, name: str, trust_domain: str) -> tuple[bytes, bytes]:
    found = await read_ca(client, namespace, name)
    if found is not None:
        return found
    root = create_root(trust_domain=trust_domain, now=datetime.now(UTC), lifetime=ROOT_LIFETIME)
    pair = (root.certificate_pem, private_key_pem(root.private_key))
    try:
        await client.create(f"/api/v1/namespaces/{namespace}/secrets", _secret(namespace, name, *pair))
    except KubeApiError as exc:
        if exc.code != 409:
            raise
        winner = await read_ca(client, namespace, name)
        if winner is None:
            raise
        return winner
    return pair


def write_private(directory: Path, cert: bytes, key: bytes) -> tuple[Path, Path]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    cert_path.write_bytes(cert)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return cert_path, key_path
