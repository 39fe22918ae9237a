"""Sidecar injection as a pure function: a pod template in, the meshed pod template out.

`inject_template(metadata, spec, config)` adds, in this order of the pod's init containers: the capture
step (`smimesh capture`, root with NET_ADMIN and NET_RAW only) and the Envoy sidecar as a native sidecar
(`restartPolicy: Always`, Kubernetes >= 1.29) whose startup probe holds the app's own init containers and
containers back until it is ready; then the app's own init containers. It adds the volumes (a projected
service-account token with audience `smimesh`, an in-memory directory for the bootstrap the sidecar
renders at start, the xtables lock), rewrites the app's HTTP probes (`probes`) and adds the metrics and
status annotations. A pod already injected, on the host network, opted out, or of the control plane comes
back unchanged with the reason. `inject_object` does the same for every kind that carries a pod template.
Never raises for bad input: what is wrong is in `Outcome.problems` and the object is left unchanged.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from smimesh import __version__
from smimesh.pods import layout as lay
from smimesh.pods import probes
from smimesh.pods.layout import PodLayout

Obj = dict[str, Any]
# kind -> where its pod template is; a Pod is its own template
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


DEFAULT_IMAGE = f"ghcr.io/smimesh/smimesh:{__version__}"  # smimesh + Envoy: runs capture and sidecar
DEFAULT_XDS_ADDRESS = "smimesh-controller.smimesh-system.svc:15128"  # the Service `smimesh install` makes


@dataclass(frozen=True, slots=True)
class InjectConfig:
    image: str = DEFAULT_IMAGE
    xds_address: str = DEFAULT_XDS_ADDRESS
    layout: PodLayout = field(default_factory=PodLayout)
    audience: str = "smimesh"
    token_seconds: int = 86400  # kubelet refreshes the file at 80 % of this
    concurrency: int = 2  # Envoy worker threads


@dataclass(slots=True)
class Outcome:
    metadata: Obj
    spec: Obj
    injected: bool = False
    reason: str = ""  # why nothing was injected (empty when injected)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (field path, what is wrong)


def skip_reason(metadata: Obj, spec: Obj) -> str:
    """Why this pod must not be meshed ("" if it may be)."""
    annotations, labels = metadata.get("annotations") or {}, metadata.get("labels") or {}
    if spec.get("hostNetwork"):
        return "hostNetwork pods are not meshed (capture would change the node's own traffic)"
    if "disabled" in (annotations.get(lay.INJECT_ANNOTATION), labels.get(lay.INJECT_ANNOTATION)):
        return f"opted out ({lay.INJECT_ANNOTATION}: disabled)"
    if lay.CONTROL_PLANE_LABEL in labels:
        return "a pod of the smimesh control plane"
    names = {c.get("name") for c in spec.get("initContainers") or [] if isinstance(c, dict)}
    if lay.PROXY_CONTAINER in names:
        return "already injected"
    return ""


def inject_template(metadata: Obj, spec: Obj, config: InjectConfig | None = None) -> Outcome:
    config = config or InjectConfig()
    reason = skip_reason(metadata, spec)
    if reason:
        return Outcome(metadata, spec, reason=reason)
    rewrite = probes.rewrite(list(spec.get("containers") or []), config.layout)
    problems = rewrite.problems + _volume_clashes(spec) + _annotation_problems(metadata)
    if problems:
        return Outcome(metadata, spec, reason="not injected: see the problems", problems=problems)
    new_spec = copy.deepcopy(spec)
    new_spec["initContainers"] = [
        capture_container(metadata, config),
        proxy_container(config, rewrite.targets),
        *(spec.get("initContainers") or []),
    ]
    new_spec["containers"] = rewrite.containers
    new_spec["volumes"] = [*(spec.get("volumes") or []), *volumes(config)]
    new_meta = copy.deepcopy(metadata)
    new_meta["annotations"] = {**(metadata.get("annotations") or {}), **pod_annotations(config.layout)}
    return Outcome(new_meta, new_spec, injected=True)


def pod_annotations(layout: PodLayout) -> dict[str, str]:
    return {
        lay.STATUS_ANNOTATION: lay.LAYOUT_VERSION,
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(layout.health_port),
        "prometheus.io/path": "/stats/prometheus",
    }


def capture_container(metadata: Obj, config: InjectConfig) -> Obj:
    p = config.layout
    args = [
        *("--outbound-port", str(p.outbound_port), "--inbound-port", str(p.inbound_port)),
        *("--proxy-uid", str(p.proxy_uid), "--health-port", str(p.health_port)),
    ]
    notes = metadata.get("annotations") or {}
    for flag, key in _EXCLUSION_FLAGS.items():
        if notes.get(key):
            args += [flag, _normalised_list(notes[key])]
    return {
        "name": lay.CAPTURE_CONTAINER,
        "image": config.image,
        "command": ["smimesh", "capture"],
        "args": args,
        "securityContext": {
            "runAsUser": 0,
            "runAsNonRoot": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]},
        },
        "volumeMounts": [{"name": lay.XTABLES_VOLUME, "mountPath": "/run"}],
    }


def proxy_container(config: InjectConfig, probe_targets: dict[str, Obj]) -> Obj:
    p = config.layout
    check = ["smimesh", "sidecar-ready", "--admin-port", str(p.admin_port)]
    return {
        "name": lay.PROXY_CONTAINER,
        "image": config.image,
        "restartPolicy": "Always",
        "command": ["smimesh", "sidecar"],
        "args": [
            *("--xds-address", config.xds_address, "--admin-port", str(p.admin_port)),
            *("--outbound-port", str(p.outbound_port), "--inbound-port", str(p.inbound_port)),
            *("--health-port", str(p.health_port), "--concurrency", str(config.concurrency)),
        ],
        "env": [
            *(_field_env("POD_NAME", "metadata.name"), _field_env("POD_NAMESPACE", "metadata.namespace")),
            *(_field_env("POD_IP", "status.podIP"), _field_env("SERVICE_ACCOUNT", "spec.serviceAccountName")),
            {"name": lay.PROBES_ENV, "value": json.dumps(probe_targets, sort_keys=True)},
        ],
        "ports": [{"name": "smimesh-health", "containerPort": p.health_port, "protocol": "TCP"}],
        # The app starts only once this passes: config received and capture proven in force.
        "startupProbe": _exec(check, period=1, failures=300),
        "readinessProbe": _exec(check, period=10, failures=3),
        "securityContext": {
            "runAsUser": p.proxy_uid,
            "runAsGroup": p.proxy_gid,
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": lay.TOKEN_VOLUME, "mountPath": lay.TOKEN_DIR, "readOnly": True},
            {"name": lay.BOOTSTRAP_VOLUME, "mountPath": lay.BOOTSTRAP_DIR},
        ],
    }


def volumes(config: InjectConfig) -> list[Obj]:
    token = {"audience": config.audience, "expirationSeconds": config.token_seconds, "path": "token"}
    return [
        {"name": lay.TOKEN_VOLUME, "projected": {"sources": [{"serviceAccountToken": token}]}},
        {"name": lay.BOOTSTRAP_VOLUME, "emptyDir": {"medium": "Memory"}},
        {"name": lay.XTABLES_VOLUME, "emptyDir": {}},
    ]


def _exec(command: list[str], *, period: int, failures: int) -> Obj:
    return {
        "exec": {"command": list(command)},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _field_env(name: str, path: str) -> Obj:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


_EXCLUSION_FLAGS = {
    "--exclude-outbound-ports": lay.EXCLUDE_OUTBOUND_PORTS,
    "--exclude-inbound-ports": lay.EXCLUDE_INBOUND_PORTS,
    "--exclude-outbound-cidrs": lay.EXCLUDE_OUTBOUND_CIDRS,
}


def _normalised_list(value: str) -> str:
    return ",".join(part.strip() for part in value.split(",") if part.strip())


def _volume_clashes(spec: Obj) -> list[tuple[str, str]]:
    ours = {lay.TOKEN_VOLUME, lay.BOOTSTRAP_VOLUME, lay.XTABLES_VOLUME}
    return [
        (f"spec.volumes[{i}].name", f"{v.get('name')!r} is a name the sidecar injection uses")
        for i, v in enumerate(spec.get("volumes") or [])
        if isinstance(v, dict) and v.get("name") in ours
    ]


def _annotation_problems(metadata: Obj) -> list[tuple[str, str]]:
    notes = metadata.get("annotations") or {}
    problems = []
    for key in (lay.EXCLUDE_OUTBOUND_PORTS, lay.EXCLUDE_INBOUND_PORTS):
        bad = [p for p in _normalised_list(str(notes.get(key, ""))).split(",") if p and not _is_port(p)]
        if bad:
            problems.append((f'metadata.annotations["{key}"]', f"not a port number (1-65535): {bad[0]!r}"))
    for part in _normalised_list(str(notes.get(lay.EXCLUDE_OUTBOUND_CIDRS, ""))).split(","):
        if part and not _is_cidr(part):
            problems.append(
                (f'metadata.annotations["{lay.EXCLUDE_OUTBOUND_CIDRS}"]', f"not a CIDR: {part!r}")
            )
    return problems


def _is_port(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


# --- objects that carry a pod template ------------------------------------------------------------
@dataclass(slots=True)
class ObjectOutcome:
    obj: Obj
    injected: bool
    reason: str
    problems: list[tuple[str, str]]  # paths relative to the object


def inject_object(obj: Obj, config: InjectConfig | None = None) -> ObjectOutcome:
    """`obj` with its pod template injected; kinds without one come back unchanged."""
    path = TEMPLATE_PATHS.get(str(obj.get("kind", "")))
    if path is None:
        return ObjectOutcome(obj, False, f"kind {obj.get('kind')!r} has no pod template", [])
    template = _at(obj, path)
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        where = ".".join((*path, "spec")) or "spec"
        return ObjectOutcome(obj, False, "no pod spec", [(where, "missing or not a mapping")])
    outcome = inject_template(template.get("metadata") or {}, template["spec"], config)
    prefix = ".".join(path)
    problems = [(f"{prefix}.{where}" if prefix else where, why) for where, why in outcome.problems]
    if not outcome.injected:
        return ObjectOutcome(obj, False, outcome.reason, problems)
    new = copy.deepcopy(obj)
    new_template = _at(new, path)
    new_template["metadata"], new_template["spec"] = outcome.metadata, outcome.spec
    return ObjectOutcome(new, True, "", problems)


def _at(obj: Obj, path: tuple[str, ...]) -> Any:
    current: Any = obj
    for key in path:
        current = current.get(key) if isinstance(current, dict) else None
    return current
