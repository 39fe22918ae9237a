"""What a pair of running proxies really carries (mTLS, RBAC, a split), read from their /config_dump.

The benchmark records this per path instead of assuming it, so the report never credits a path
with a feature it did not run. The bootstrap section of the dump is left out: its node lists every
extension the Envoy build has, which would make every feature look present.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx


def _live_config(admin: str) -> list[Any]:
    """The sidecar's config_dump without the bootstrap (its node lists every extension Envoy has)."""
    dump = httpx.get(f"http://{admin}/config_dump", timeout=5).json()
    return [c for c in dump.get("configs", []) if not c.get("@type", "").endswith("BootstrapConfigDump")]


def _walk(tree: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _walk(item)


def _has_tls(config: list[Any], kind: str) -> bool:
    sockets = [v for k, v in _walk(config) if k == "transport_socket" and isinstance(v, dict)]
    return any(str(s.get("typed_config", {}).get("@type", "")).endswith(kind) for s in sockets)


def _has_rbac(config: list[Any]) -> bool:
    return any(key == "name" and isinstance(value, str) and "rbac" in value for key, value in _walk(config))


def what_proxies_carry(client_admin: str, server_admins: list[str]) -> dict[str, object]:
    """mTLS on both ends, an RBAC filter on every server side, a weighted split on the client side."""
    client = _live_config(client_admin)
    servers = [_live_config(admin) for admin in server_admins]
    server_tls = all(_has_tls(s, "DownstreamTlsContext") for s in servers)
    return {
        "proxies": 1 + len(server_admins),
        "mtls": _has_tls(client, "UpstreamTlsContext") and server_tls,
        "rbac": all(_has_rbac(s) for s in servers),
        "split": any(key == "weighted_clusters" for key, _ in _walk(client)),
    }
