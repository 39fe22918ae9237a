"""kubelet's HTTP probes, rewritten so they still reach the app once its inbound TCP is captured.

kubelet probes the pod IP in plaintext; with strict mTLS the sidecar's inbound listener refuses that.
So each `httpGet` probe of an app container is pointed at the sidecar's health port (not captured) on
`/app-health/<container>/<liveness|readiness|startup>`, and the original target (port, path, scheme) is
kept in the sidecar's `SMIMESH_APP_PROBES` variable; the sidecar's health listener forwards that path
to the app on loopback (`sidecar.health_listener`). `tcpSocket`, `grpc` and `exec` probes are left as
they are (see docs/kubernetes-pods.md), as is an `httpGet` naming another `host`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from smimesh.pods.layout import PodLayout

PROBE_KINDS = ("livenessProbe", "readinessProbe", "startupProbe")


@dataclass(slots=True)
class ProbeRewrite:
    containers: list[dict[str, Any]]
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)  # health path -> original target
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field path, what is wrong)


def health_path(container: str, kind: str) -> str:
    return f"/app-health/{container}/{kind.removesuffix('Probe')}"


def rewrite(containers: list[dict[str, Any]], layout: PodLayout) -> ProbeRewrite:
    out = ProbeRewrite(copy.deepcopy(containers))
    for index, container in enumerate(out.containers):
        for kind in PROBE_KINDS:
            probe = container.get(kind)
            if isinstance(probe, dict) and isinstance(probe.get("httpGet"), dict):
                _rewrite_one(out, container, kind, f"spec.containers[{index}].{kind}.httpGet", layout)
    return out


def _rewrite_one(
    out: ProbeRewrite, container: dict[str, Any], kind: str, where: str, layout: PodLayout
) -> None:
    action = container[kind]["httpGet"]
    if action.get("host"):
        return  # probes another host: not the app behind this sidecar
    port = container_port(container, action.get("port"))
    if port is None:
        out.problems.append((f"{where}.port", f"no port {action.get('port')!r} among the container's ports"))
        return
    path = health_path(str(container.get("name", "")), kind)
    out.targets[path] = {
        "port": port,
        "path": action.get("path") or "/",
        "scheme": action.get("scheme", "HTTP"),
    }
    rewritten = {"path": path, "port": layout.health_port, "scheme": "HTTP"}
    if action.get("httpHeaders"):
        rewritten["httpHeaders"] = action["httpHeaders"]
    container[kind]["httpGet"] = rewritten


def container_port(container: dict[str, Any], port: Any) -> int | None:
    """A probe's port: a number (or numeric string), or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if isinstance(declared, dict) and declared.get("name") == port:
            number = declared.get("containerPort")
            return number if isinstance(number, int) else None
    return None
