"""A test kit "kubelet": runs a *mutated* pod spec in a `NetLab` pod namespace, as kubelet would.

`Kubelet(lab, workdir).start(pod_object, pod)` runs the init containers in order — a regular one to
completion (a non-zero exit fails the pod, with its stderr), a native sidecar (`restartPolicy: Always`)
started and then held until its startup probe passes — then starts the containers. Each container runs
as its `securityContext.runAsUser` (root without one), with its `env` (values and the downward-API
fields the injection uses: metadata.name/namespace, status.podIP, spec.serviceAccountName), its
`command` + `args` with `$(VAR)` expanded, and its volume mounts: in a private mount namespace, a tmpfs
on /run and each volume bind-mounted at its `mountPath` (an emptyDir is a fresh directory, a projected
service-account token a directory with the `token` file given to `start`). `smimesh` in a command is
the smimesh installed beside this Python. Images are ignored: every container runs this machine's
files. What is executed is the pod spec as given, so a test of it tests the real patch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smimesh.local.env import expand
from smimesh.testing.netns import NetLab, Pod

FIELDS = {
    "metadata.name": ("metadata", "name"),
    "metadata.namespace": ("metadata", "namespace"),
    "spec.serviceAccountName": ("spec", "serviceAccountName"),
}


class PodFailed(Exception):
    pass


@dataclass
class Container:
    name: str
    argv: list[str]
    uid: int | None
    env: dict[str, str]
    mounts: list[tuple[str, str]]  # (host directory, mountPath)
    spec: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None


@dataclass
class RunningPod:
    pod: Pod
    containers: dict[str, Container] = field(default_factory=dict)


@dataclass
class Kubelet:
    lab: NetLab
    workdir: Path
    smimesh: str = str(Path(sys.executable).parent / "smimesh")
    hosts_file: Path | None = None  # bind-mounted on /etc/hosts in every container (names -> ClusterIPs)

    def start(
        self, obj: Mapping[str, Any], pod: Pod, *, token: str = "", startup_timeout: float = 60
    ) -> RunningPod:
        volumes = self._volumes(obj, pod, token)
        running = RunningPod(pod)
        for spec in obj["spec"].get("initContainers") or []:
            container = self._container(spec, obj, pod, volumes)
            running.containers[container.name] = container
            if spec.get("restartPolicy") == "Always":
                self.launch(running, container)
                self.wait_started(running, container, startup_timeout)
            else:
                self.run_to_completion(pod, container)
        for spec in obj["spec"].get("containers") or []:
            container = self._container(spec, obj, pod, volumes)
            running.containers[container.name] = container
            self.launch(running, container)
        return running

    # --- one container ------------------------------------------------------------------------------
    def _container(
        self, spec: Mapping[str, Any], obj: Mapping[str, Any], pod: Pod, volumes: Mapping[str, Path]
    ) -> Container:
        env = self._env(spec, obj, pod)
        argv = [expand(str(part), env) for part in [*(spec.get("command") or []), *(spec.get("args") or [])]]
        if argv and argv[0] == "smimesh":
            argv[0] = self.smimesh
        mounts = [(str(volumes[m["name"]]), m["mountPath"]) for m in spec.get("volumeMounts") or []]
        uid = (spec.get("securityContext") or {}).get("runAsUser")
        return Container(spec["name"], argv, uid, env, mounts, dict(spec))

    def _env(self, spec: Mapping[str, Any], obj: Mapping[str, Any], pod: Pod) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp"}
        for item in spec.get("env") or []:
            if "value" in item:
                env[item["name"]] = expand(str(item["value"]), env)
                continue
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            if path == "status.podIP":
                env[item["name"]] = pod.ip
            else:
                section, key = FIELDS[path]
                env[item["name"]] = str(
                    obj.get(section, {}).get(key, "default" if key == "serviceAccountName" else "")
                )
        return env

    def argv(self, container: Container, command: list[str] | None = None) -> list[str]:
        """`unshare` a mount namespace, mount the volumes, drop to the UID, exec the command."""
        script = ["mount -t tmpfs tmpfs /run"]
        if self.hosts_file is not None:
            script.append(f"mount --bind '{self.hosts_file}' /etc/hosts")
        for host, target in sorted(container.mounts, key=lambda m: len(m[1])):
            script += [f"mkdir -p '{target}'", f"mount --bind '{host}' '{target}'"]
        as_user = (
            []
            if container.uid in (None, 0)
            else ["setpriv", f"--reuid={container.uid}", f"--regid={container.uid}", "--clear-groups"]
        )
        shell = " && ".join(script) + ' && exec "$@"'
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            shell,
            "sh",
            *as_user,
            *(command or container.argv),
        ]

    def launch(self, running: RunningPod, container: Container) -> None:
        container.log = self.workdir / f"{running.pod.name}-{container.name}.log"
        with container.log.open("ab") as log:
            container.process = self.lab.run(
                running.pod.netns,
                self.argv(container),
                env=container.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def run_to_completion(self, pod: Pod, container: Container, timeout: float = 120) -> None:
        done = subprocess.run(
            self.lab.argv(pod.netns, self.argv(container)),
            env=container.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise PodFailed(
                f"init container {container.name} exited {done.returncode}: {done.stderr.strip()}"
            )

    def probe(self, running: RunningPod, container: Container, kind: str) -> subprocess.CompletedProcess[str]:
        """Run the container's exec probe once (in its namespace, as its user, with its env)."""
        command = [expand(c, container.env) for c in container.spec[kind]["exec"]["command"]]
        if command[0] == "smimesh":
            command[0] = self.smimesh
        return subprocess.run(
            self.lab.argv(running.pod.netns, self.argv(container, command)),
            env=container.env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def wait_started(self, running: RunningPod, container: Container, timeout: float) -> None:
        if "startupProbe" not in container.spec:
            return
        deadline = time.monotonic() + timeout
        while True:
            result = self.probe(running, container, "startupProbe")
            if result.returncode == 0:
                return
            if container.process is not None and container.process.poll() is not None:
                raise PodFailed(
                    f"{container.name} exited {container.process.returncode}: {self.log_of(container)}"
                )
            if time.monotonic() > deadline:
                raise PodFailed(f"{container.name} never started: {result.stderr.strip()}")
            time.sleep(float(container.spec["startupProbe"].get("periodSeconds", 1)))

    def restart(self, running: RunningPod, name: str) -> None:
        container = running.containers[name]
        if container.process is not None and container.process.poll() is None:
            container.process.kill()
            container.process.wait(10)
        self.launch(running, container)

    @staticmethod
    def log_of(container: Container) -> str:
        return (
            container.log.read_text(errors="replace")[-2000:]
            if container.log and container.log.exists()
            else ""
        )

    # --- volumes ------------------------------------------------------------------------------------
    def _volumes(self, obj: Mapping[str, Any], pod: Pod, token: str) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for volume in obj["spec"].get("volumes") or []:
            directory = self.workdir / "volumes" / pod.name / volume["name"]
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o777)  # an emptyDir is writable by every container's user
            sources = (volume.get("projected") or {}).get("sources") or []
            for source in sources:
                if "serviceAccountToken" in source:
                    file = directory / source["serviceAccountToken"]["path"]
                    file.write_text(token)
                    file.chmod(0o644)
                    directory.chmod(0o755)
            found[volume["name"]] = directory
        return found
