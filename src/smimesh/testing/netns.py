"""Pods as network namespaces, for tests that need real packet redirection (issue 13).

`NetLab(prefix)` (a context manager) builds a "node" namespace holding a bridge and, per `add_pod(name)`,
a pod namespace joined to it by a veth pair, with an address from 198.18.0.0/15 (RFC 2544 benchmarking
space) and a default route via the node. Everything is created inside those namespaces — the veth pair
is made inside the node namespace with its peer moved straight into the pod's — so nothing is added to
the machine's own namespace. `close()` kills every process the lab started and deletes every namespace
it made, also after a failure; names carry a per-run prefix, so parallel runs never collide and a
leftover can be attributed (`leftovers(prefix)`).

`run(pod, argv, uid=)` starts a process in a pod (optionally as another UID/GID, through `setpriv`);
`exec(...)` runs one to completion. Needs root (tests skip otherwise: `root_reason()`).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NETWORK = ipaddress.ip_network("198.18.0.0/15")
NODE_IP = "198.18.0.1"


def root_reason() -> str:
    """Why network-namespace tests cannot run here ("" if they can)."""
    if os.geteuid() != 0:
        return "needs root (ip netns, iptables); CI runs these as root"
    missing = [
        tool for tool in ("ip", "iptables-nft", "iptables-legacy", "setpriv") if not shutil.which(tool)
    ]
    return f"needs {', '.join(missing)} (scripts/test.sh installs iproute2 and iptables)" if missing else ""


def run_prefix() -> str:
    return f"smt{uuid.uuid4().hex[:6]}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Pod:
    name: str
    netns: str
    ip: str


@dataclass
class NetLab:
    prefix: str = field(default_factory=run_prefix)
    pods: dict[str, Pod] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def node(self) -> str:
        return f"{self.prefix}-node"

    def __enter__(self) -> NetLab:
        try:
            self._namespace(self.node)
            _ip("-n", self.node, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.node, "addr", "add", f"{NODE_IP}/15", "dev", "br0")
            _ip("-n", self.node, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self.namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def add_pod(self, name: str) -> Pod:
        index = len(self.pods) + 2
        pod = Pod(name, f"{self.prefix}-{name}", str(NETWORK.network_address + index))
        self._namespace(pod.netns)
        veth = f"v{index}"
        _ip("-n", self.node, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod.netns)
        _ip("-n", self.node, "link", "set", veth, "master", "br0", "up")
        _ip("-n", pod.netns, "addr", "add", f"{pod.ip}/15", "dev", "eth0")
        _ip("-n", pod.netns, "link", "set", "eth0", "up")
        _ip("-n", pod.netns, "route", "add", "default", "via", NODE_IP)
        self.pods[name] = pod
        return pod

    def argv(self, netns: str, argv: Sequence[str], uid: int | None = None) -> list[str]:
        as_user = [] if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        return ["ip", "netns", "exec", netns, *as_user, *argv]

    def run(
        self,
        netns: str,
        argv: Sequence[str],
        *,
        uid: int | None = None,
        env: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = subprocess.Popen(
            self.argv(netns, argv, uid), env=dict(env) if env is not None else None, **kw
        )
        self.processes.append(process)
        return process

    def exec(
        self, netns: str, argv: Sequence[str], *, uid: int | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(netns, argv, uid), capture_output=True, text=True, timeout=timeout, check=False
        )

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            for pipe in (process.stdin, process.stdout, process.stderr):  # else closed by the collector
                if pipe is not None:
                    pipe.close()
        self.processes.clear()
        for name in reversed(self.namespaces):
            # Deleting a namespace kills nothing: every process in it was killed above.
            _ip("netns", "del", name, check=False)
        self.namespaces.clear()


def leftovers(prefix: str) -> list[str]:
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(prefix)]
