"""Transparent traffic capture in a pod's network namespace: the nat rules, and installing them.

`rules(spec)` is the `iptables-restore` input (pure): four chains of our own in the nat table,
- `SMIMESH_INBOUND` (from PREROUTING): TCP to the health port and excluded inbound ports RETURN, the
  rest goes to `SMIMESH_IN_REDIRECT` (REDIRECT to the sidecar's inbound port);
- `SMIMESH_OUTPUT` (from OUTPUT), in order: the capture canary (to `layout.CAPTURE_CANARY`, redirected to
  the health port whoever sends it: how `sidecar-ready` proves the rules are in force), the sidecar's
  own UID RETURN (its upstream connections must leave as they are), loopback RETURN, excluded ports
  and CIDRs RETURN, the rest to `SMIMESH_OUT_REDIRECT` (REDIRECT to the sidecar's outbound port).
TCP only: UDP is not captured (docs/kubernetes-pods.md). IPv4 only: see the docs for IPv6.

`install(spec, backend)` applies them with `--noflush` (other rules in the namespace are kept): the chain
declarations flush our chains, and the two jumps are added only when missing, so a rerun replaces our
rules and never duplicates them. `choose_backend()` picks iptables-nft or iptables-legacy: the one that
already holds nat rules in this namespace (mixing both would leave two rule sets the kernel runs
side by side), else nft when it works, else legacy. Failures raise `CaptureError` with what the kernel
said and what to do (capabilities NET_ADMIN and NET_RAW, the nat modules).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from smimesh.pods.layout import CAPTURE_CANARY, PodLayout

CHAINS = ("SMIMESH_INBOUND", "SMIMESH_IN_REDIRECT", "SMIMESH_OUTPUT", "SMIMESH_OUT_REDIRECT")
JUMPS = (("PREROUTING", "SMIMESH_INBOUND"), ("OUTPUT", "SMIMESH_OUTPUT"))
BACKENDS = ("nft", "legacy")
CAPABILITIES = ("NET_ADMIN", "NET_RAW")
TIMEOUT_S = 30


class CaptureError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass(frozen=True, slots=True)
class CaptureSpec:
    layout: PodLayout = field(default_factory=PodLayout)
    exclude_outbound_ports: tuple[int, ...] = ()
    exclude_inbound_ports: tuple[int, ...] = ()
    exclude_outbound_cidrs: tuple[str, ...] = ()


def rules(spec: CaptureSpec) -> str:
    p = spec.layout
    lines = ["*nat", *(f":{chain} - [0:0]" for chain in CHAINS)]
    lines.append(f"-A SMIMESH_IN_REDIRECT -p tcp -j REDIRECT --to-ports {p.inbound_port}")
    for ports in _port_groups((*p.inbound_exempt(), *spec.exclude_inbound_ports)):
        lines.append(f"-A SMIMESH_INBOUND -p tcp -m multiport --dports {ports} -j RETURN")
    lines.append("-A SMIMESH_INBOUND -p tcp -j SMIMESH_IN_REDIRECT")
    lines.append(f"-A SMIMESH_OUT_REDIRECT -p tcp -j REDIRECT --to-ports {p.outbound_port}")
    canary_ip, canary_port = CAPTURE_CANARY
    lines += [
        f"-A SMIMESH_OUTPUT -p tcp -d {canary_ip}/32 --dport {canary_port} "
        f"-j REDIRECT --to-ports {p.health_port}",
        f"-A SMIMESH_OUTPUT -m owner --uid-owner {p.proxy_uid} -j RETURN",
        "-A SMIMESH_OUTPUT -o lo -j RETURN",
    ]
    for ports in _port_groups(spec.exclude_outbound_ports):
        lines.append(f"-A SMIMESH_OUTPUT -p tcp -m multiport --dports {ports} -j RETURN")
    lines += [f"-A SMIMESH_OUTPUT -d {cidr} -j RETURN" for cidr in spec.exclude_outbound_cidrs]
    lines += ["-A SMIMESH_OUTPUT -p tcp -j SMIMESH_OUT_REDIRECT", "COMMIT", ""]
    return "\n".join(lines)


def _port_groups(ports: Sequence[int]) -> list[str]:
    """multiport takes at most 15 ports per rule."""
    unique = sorted(set(ports))
    return [",".join(map(str, unique[i : i + 15])) for i in range(0, len(unique), 15)]


def install(spec: CaptureSpec, backend: str) -> None:
    _run([_binary(backend, "restore"), "--noflush"], rules(spec))
    for parent, chain in JUMPS:
        jump = ["-t", "nat", "-p", "tcp", "-j", chain]
        if not _ok([_binary(backend), "-t", "nat", "-C", parent, *jump[2:]]):
            _run([_binary(backend), "-t", "nat", "-A", parent, *jump[2:]])


def remove(backend: str) -> None:
    """Undo `install` (tests, and a pod leaving the mesh without a restart)."""
    for parent, chain in JUMPS:
        while _ok([_binary(backend), "-t", "nat", "-D", parent, "-p", "tcp", "-j", chain]):
            pass
    for chain in CHAINS:
        _ok([_binary(backend), "-t", "nat", "-F", chain])
    for chain in CHAINS:
        _ok([_binary(backend), "-t", "nat", "-X", chain])


def current_rules(backend: str) -> str:
    return _run([_binary(backend), "-t", "nat", "-S"])


def choose_backend() -> str:
    usable = [b for b in BACKENDS if shutil.which(_binary(b))]
    if not usable:
        raise CaptureError(
            "neither iptables-nft nor iptables-legacy is installed",
            "install the iptables package (Debian: apt-get install iptables)",
        )
    for backend in usable:
        listed = _output([_binary(backend), "-t", "nat", "-S"])
        if listed is not None and any(line.startswith("-A ") for line in listed.splitlines()):
            return backend
    return usable[0]


def _binary(backend: str, tool: str = "") -> str:
    if backend not in BACKENDS:
        raise CaptureError(f"unknown iptables backend {backend!r}", f"use one of {', '.join(BACKENDS)}")
    return f"iptables-{backend}" + (f"-{tool}" if tool else "")


def _ok(argv: list[str]) -> bool:
    return _output(argv) is not None


def _output(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def _run(argv: list[str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except OSError as exc:
        raise CaptureError(
            f"cannot run {argv[0]}: {exc.strerror or exc}", "install the iptables package"
        ) from None
    if done.returncode != 0:
        raise refused(argv, done.stderr.strip() or done.stdout.strip())
    return done.stdout


def refused(argv: list[str], said: str) -> CaptureError:
    """What the kernel's refusal means, in the words of someone who has to fix it."""
    lowered = said.lower()
    command = " ".join(argv[:2])
    if "permission denied" in lowered or "operation not permitted" in lowered:
        return CaptureError(
            f"the kernel refused to change the nat table ({command}: {said})",
            "capture needs the capabilities " + " and ".join(CAPABILITIES) + " in the pod's network "
            "namespace: the smimesh-capture init container must run with securityContext.capabilities."
            "add: [NET_ADMIN, NET_RAW]; the PodSecurity levels 'baseline' and 'restricted' forbid NET_ADMIN, "
            "so a meshed namespace needs 'privileged'",
        )
    if "table does not exist" in lowered or "can't initialize" in lowered or "no such file" in lowered:
        return CaptureError(
            f"the kernel has no usable nat table for this backend ({command}: {said})",
            "load the nat modules on the node (iptable_nat / nft_chain_nat, xt_REDIRECT, xt_owner, "
            "xt_multiport) or try the other backend with --iptables nft|legacy",
        )
    return CaptureError(
        f"{command} failed: {said}", "run with --dry-run to see the rules it tried to install"
    )
