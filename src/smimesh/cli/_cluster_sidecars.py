"""A sidecar's Envoy admin in a cluster, read through the API server's `pods/portforward` (as istioctl).

The admin is bound to the pod's loopback (`pods/layout.py`: never exposed on the pod IP), so neither
the controller nor this machine can reach it directly. `PodSidecars(cluster)` reads the pod (`get` on
`pods`: its admin port is the injected sidecar's 15000; on a pod not injected, the
`smimesh.io/admin-port` annotation when it has one) and sends one GET through
`sources.kubernetes.portforward` per call (`create` on `pods/portforward`, the kubeconfig's user).
`config(node_id, type)` is the proxy config answer the local API gives (`{proxy, admin, type,
config}`), `stats(node_id, filter)` the admin's `/stats`.
A pod's config_dump is read once per `PodSidecars` (`explain --live` asks for several types of one
pod: each read is a port-forward carrying the whole dump).
A node id is `POD.NAMESPACE` (a namespace has no dot; a pod name may).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from smimesh.api.inspect import only
from smimesh.errors import SmimeshError
from smimesh.pods.layout import PodLayout
from smimesh.sources.kubernetes.cluster import ADMIN_PORT, injected
from smimesh.sources.kubernetes.kubeconfig import ClusterConfig
from smimesh.sources.kubernetes.portforward import HINTS, PodAnswer, admin_get, status_message


def split_node(node_id: str) -> tuple[str, str]:
    """`web-0.shop` -> ("shop", "web-0")."""
    pod, _, namespace = node_id.rpartition(".")
    return namespace, pod


class PodSidecars:
    """See the module docstring."""

    def __init__(self, cluster: ClusterConfig) -> None:
        self.cluster = cluster
        self._ports: dict[tuple[str, str], int] = {}
        self._dumps: dict[str, tuple[str, Any]] = {}  # node id -> (where, its whole config_dump)

    def admin_port(self, namespace: str, pod: str) -> int:
        if (namespace, pod) not in self._ports:
            found = self._pod(namespace, pod)
            # On an injected pod the annotation names where the control plane reads stats (the health
            # port, as `cluster.pod_instance` reads it); Envoy's admin is the layout's, on its loopback.
            annotated = (
                None
                if injected(found)
                else (found.get("metadata", {}).get("annotations") or {}).get(ADMIN_PORT)
            )
            self._ports[(namespace, pod)] = _admin_port(annotated, f"pod {namespace}/{pod}")
        return self._ports[(namespace, pod)]

    def _pod(self, namespace: str, pod: str) -> dict[str, Any]:
        url = f"{self.cluster.server}/api/v1/namespaces/{namespace}/pods/{pod}"
        token = self.cluster.bearer()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            answer = httpx.get(url, headers=headers, verify=self.cluster.verify(), timeout=10)
        except httpx.HTTPError as exc:
            raise SmimeshError(
                f"the API server does not answer: {exc}", hint="check --kubeconfig / --context"
            ) from None
        if answer.status_code >= 400:
            message = status_message(answer.status_code, answer.content)
            raise SmimeshError(f"pod {namespace}/{pod}: {message}", hint=HINTS.get(answer.status_code, ""))
        found: dict[str, Any] = answer.json()
        return found

    def get(self, node_id: str, target: str) -> tuple[str, PodAnswer]:
        """(where, answer) of `GET target` on the node's admin; an error answer is a SmimeshError."""
        namespace, pod = split_node(node_id)
        port = self.admin_port(namespace, pod)
        answer = admin_get(self.cluster, namespace, pod, port, target)
        where = f"pod {namespace}/{pod} 127.0.0.1:{port} (port-forward)"
        if answer.status != 200:
            raise SmimeshError(f"{where} {target} answered {answer.status}: {answer.body[:200]!r}")
        return where, answer

    def config(self, node_id: str, config_type: str | None) -> dict[str, Any]:
        where, dump = self._dump(node_id)
        return {"proxy": node_id, "admin": where, "type": config_type, "config": only(dump, config_type)}

    def _dump(self, node_id: str) -> tuple[str, Any]:
        if node_id not in self._dumps:
            where, answer = self.get(node_id, "/config_dump?include_eds")
            try:
                self._dumps[node_id] = where, json.loads(answer.body)
            except ValueError:
                raise SmimeshError(f"{where}: /config_dump is not JSON") from None
        return self._dumps[node_id]

    def stats(self, node_id: str, pattern: str) -> str:
        query = httpx.QueryParams({"filter": pattern})
        return self.get(node_id, f"/stats?{query}")[1].body.decode(errors="replace")


def _admin_port(annotated: Any, where: str) -> int:
    """The annotated admin port (pods not injected), else the layout's; a bad value is a clear error."""
    try:
        return int(annotated or PodLayout().admin_port)
    except ValueError:
        raise SmimeshError(
            f"{where}: annotation {ADMIN_PORT} is {annotated!r}, expected a port number",
            hint=f"set it to the sidecar's admin port, or remove it for the default {PodLayout().admin_port}",
        ) from None
