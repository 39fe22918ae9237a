"""Where `proxy-config` and `explain --live` read a sidecar's Envoy admin, by node id.

`Sidecars` is what they need: `config(node_id, type)` (the proxy config answer `{proxy, admin, type,
config}`, config being the config_dump sections of that type) and `stats(node_id, filter)` (the
admin's `/stats` text). `ApiSidecars(api)`: a mesh on this machine, whose API reads the config_dump
and names the admin address, where the stats are read directly. In a cluster the admin is on the
pod's loopback: `cli._cluster_sidecars.PodSidecars` reads it through `pods/portforward`.
`sidecars_for(api)` picks the one the command line asked for (`--kubeconfig`/`--context`).
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from smimesh.api.client import ApiClient
from smimesh.cli._cluster import wanted
from smimesh.cli._cluster_sidecars import PodSidecars
from smimesh.sources.kubernetes.kubeconfig import load_cluster


class Sidecars(Protocol):
    """Reads a sidecar's Envoy admin, by node id."""

    def config(self, node_id: str, config_type: str | None) -> dict[str, Any]:
        """The proxy config answer: `{proxy, admin, type, config}` (config: the config_dump sections)."""
        ...

    def stats(self, node_id: str, pattern: str) -> str:
        """The admin's `/stats?filter=pattern` text."""
        ...


class ApiSidecars:
    """A mesh on this machine: the config through its API, the stats at the admin address it names."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._admins: dict[str, str] = {}

    def config(self, node_id: str, config_type: str | None) -> dict[str, Any]:
        answer = self.api.proxy_config(node_id, config_type)
        self._admins[node_id] = str(answer.get("admin") or "")
        return answer

    def stats(self, node_id: str, pattern: str) -> str:
        admin = self._admins.get(node_id) or str(self.config(node_id, "bootstrap").get("admin") or "")
        if not admin:
            return ""
        return httpx.get(f"http://{admin}/stats", params={"filter": pattern}, timeout=5).text


def node_of(row: dict[str, Any]) -> str:
    return str(row.get("node_id") or row["instance"])  # the node id: `mail-0` may be in two namespaces


def sidecars_for(api: ApiClient) -> Sidecars:
    cluster = wanted()
    return PodSidecars(load_cluster(*cluster)) if cluster else ApiSidecars(api)
