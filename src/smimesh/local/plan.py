"""The desired set of workload instances: what should run, derived from the Workload resources.

Owns `WorkloadSpec` (the runtime's view of one Workload: what to run, where, with which identity
and ports) and `InstanceSpec` (one replica of it, named `<workload>-<index>`). Pure: the
supervisor compares the desired instances with what runs and starts/stops the difference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class PortSpec:
    name: str
    container_port: int
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """One Workload as the runtime runs it. `cwd` is already resolved to an absolute directory."""

    namespace: str
    name: str
    service_account: str
    replicas: int
    command: tuple[str, ...]
    cwd: Path
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[PortSpec, ...] = ()

    def instances(self) -> list[InstanceSpec]:
        return [InstanceSpec(self, index) for index in range(self.replicas)]


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    workload: WorkloadSpec
    index: int

    @property
    def name(self) -> str:
        """The instance (pod-like) name, `<workload>-<index>`."""
        return f"{self.workload.name}-{self.index}"

    @property
    def namespace(self) -> str:
        return self.workload.namespace

    @property
    def node_id(self) -> str:
        """The Envoy node id of its sidecar, `<instance>.<namespace>` (docs/architecture.md § mesh)."""
        return f"{self.name}.{self.namespace}"

    @property
    def launch_key(self) -> tuple[WorkloadSpec, int]:
        """What the running process depends on: everything but the replica count."""
        return dataclasses.replace(self.workload, replicas=0), self.index

    @property
    def port_names(self) -> list[str]:
        return [port.name or str(port.container_port) for port in self.workload.ports]


def workload_spec(resource: Any, manifest_file: str | None, default_dir: Path) -> WorkloadSpec:
    """A `WorkloadSpec` from a hub `smimesh.io/v1alpha1` Workload resource.

    The working directory is `spec.workingDir` (relative to the manifest's directory), else the
    manifest's directory; a Workload applied through the API has no file, so `default_dir` (the
    directory `smimesh up` serves) stands in.
    """
    meta, spec = resource.metadata, resource.spec
    base = _manifest_dir(manifest_file, default_dir)
    working_dir = getattr(spec, "working_dir", None)
    cwd = (base / working_dir).resolve() if working_dir else base
    return WorkloadSpec(
        namespace=meta.namespace or "default",
        name=meta.name,
        service_account=spec.service_account or "default",
        replicas=int(spec.replicas),
        command=tuple(spec.command),
        args=tuple(spec.args),
        cwd=cwd,
        env=_sorted_pairs(spec.env or {}),
        labels=_sorted_pairs(meta.labels or {}),
        ports=tuple(_port_spec(port) for port in (spec.ports or ())),
    )


# WorkloadSpec fields as a user writes them in the manifest (what `launch_changes` names).
_MANIFEST_NAMES = {
    "service_account": "serviceAccount",
    "command": "command",
    "args": "args",
    "cwd": "workingDir",
    "env": "env",
    "labels": "labels",
    "ports": "ports",
    "namespace": "namespace",
    "name": "name",
}


def launch_changes(old: WorkloadSpec, new: WorkloadSpec) -> list[str]:
    """What differs between two versions of a Workload that its running processes depend on."""
    return [
        _MANIFEST_NAMES.get(f.name, f.name)
        for f in dataclasses.fields(WorkloadSpec)
        if f.name != "replicas" and getattr(old, f.name) != getattr(new, f.name)
    ]


def desired_instances(workloads: Iterable[WorkloadSpec]) -> dict[str, InstanceSpec]:
    """Every instance that should run, keyed by node id (unique across namespaces)."""
    return {instance.node_id: instance for workload in workloads for instance in workload.instances()}


def _port_spec(port: Any) -> PortSpec:
    number = int(port.container_port)
    return PortSpec(name=port.name or str(number), container_port=number, protocol=port.protocol or "TCP")


def _manifest_dir(manifest_file: str | None, default_dir: Path) -> Path:
    if not manifest_file or manifest_file.startswith("<"):
        return default_dir.resolve()
    return Path(manifest_file).resolve().parent


def _sorted_pairs(mapping: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))
