"""The environment a workload process starts with: the contract between the runtime and an app.

Layering, later wins:
1. the environment of `smimesh up` itself (PATH, HOME, ...), minus proxy variables, with the
   directory of smimesh's own Python first on PATH (so `command: [python3, app.py]` runs the
   interpreter smimesh was installed with, also when its virtualenv is not activated);
2. defaults a user may override: `PYTHONUNBUFFERED=1` (logs appear as they are written) and
   `NO_PROXY`/`no_proxy` = loopback (an app talking to itself must not loop through the mesh);
3. the Workload's `spec.env`;
4. the contract, which nothing overrides:
   - `HOST=127.0.0.1`, `PORT=<app port of the first Workload port>`, `PORT_<NAME>` per named port;
   - `HTTP_PROXY`/`http_proxy=http://127.0.0.1:<sidecar outbound port>`: `http://SERVICE.NAMESPACE:PORT/`
     is routed by the mesh; `HTTPS_PROXY`/`https_proxy` the same address, so an `https://` call leaves
     as `CONNECT host:port` through the sidecar (egress policy: xds/egress_connect.py);
   - `SMIMESH_TCP_<SERVICE>_<NAMESPACE>_<PORT>=127.0.0.1:<local port>` per non-HTTP service port
     (names upper-cased, every character that is not a letter or digit becomes `_`), and
     `SMIMESH_UDP_<SERVICE>_<NAMESPACE>_<PORT>` for a UDP one (its sidecar listens there only if
     access control lets the workload's identity send to that port; see mesh/udp.py);
   - `WORKLOAD_NAME`, `POD_NAME` (`<workload>-<index>`), `POD_NAMESPACE`, `SERVICE_ACCOUNT`.
The command line is `spec.command` + `spec.args` with Kubernetes' `$(VAR)` references expanded from
this environment (`expand`). An environment is fixed when a process starts: a TCP service added
later gets its local port in every running sidecar at once, but its variable only in processes
started after it (`smimesh up` says so).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from smimesh.local.plan import InstanceSpec
from smimesh.local.ports import InstancePorts
from smimesh.settings import LOOPBACK

_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
_NOT_NAME = re.compile(r"[^A-Z0-9]")


def env_name(*parts: str | int) -> str:
    """An environment variable name from parts: upper case, non-alphanumerics become `_`."""
    return _NOT_NAME.sub("_", "_".join(str(part) for part in parts).upper())


def tcp_upstream_key(service: str, namespace: str, port: int) -> str:
    """The key of a non-HTTP upstream in `InstancePorts.tcp_upstreams`: `service.namespace:port`."""
    return f"{service}.{namespace}:{port}"


UDP_KEY_SUFFIX = "/udp"


def udp_upstream_key(service: str, namespace: str, port: int) -> str:
    """The key of a UDP upstream: `service.namespace:port/udp` (its local port is a UDP port)."""
    return tcp_upstream_key(service, namespace, port) + UDP_KEY_SUFFIX


def parse_upstream_key(key: str) -> tuple[str, str, int, bool]:
    """(service, namespace, port, is_udp) of a key made by `tcp_upstream_key` or `udp_upstream_key`."""
    is_udp = key.endswith(UDP_KEY_SUFFIX)
    host, _, port = key.removesuffix(UDP_KEY_SUFFIX).rpartition(":")
    service, _, namespace = host.partition(".")
    return service, namespace, int(port), is_udp


def tcp_upstream_variable(key: str) -> str:
    """`SMIMESH_TCP_<SERVICE>_<NAMESPACE>_<PORT>` (or `SMIMESH_UDP_...` for a UDP key) of an upstream key."""
    service, namespace, port, is_udp = parse_upstream_key(key)
    return env_name("SMIMESH_UDP" if is_udp else "SMIMESH_TCP", service, namespace, port)


def workload_environment(
    instance: InstanceSpec, ports: InstancePorts, inherited: Mapping[str, str]
) -> dict[str, str]:
    """The full environment of one workload instance (see the module docstring for the order)."""
    env = {k: v for k, v in inherited.items() if k.lower() not in _PROXY_VARIABLES}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])
    loopback = f"localhost,{LOOPBACK},::1"
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": loopback, "no_proxy": loopback})
    env.update(dict(instance.workload.env))
    env.update(contract_variables(instance, ports))
    return env


def contract_variables(instance: InstanceSpec, ports: InstancePorts) -> dict[str, str]:
    workload = instance.workload
    proxy = f"http://{LOOPBACK}:{ports.outbound_http}"
    env = {
        "HOST": LOOPBACK,
        "HTTP_PROXY": proxy,
        "http_proxy": proxy,
        # HTTPS clients send `CONNECT host:port` to it; the sidecar opens only tunnels an Egress allows
        "HTTPS_PROXY": proxy,
        "https_proxy": proxy,
        "WORKLOAD_NAME": workload.name,
        "POD_NAME": instance.name,
        "POD_NAMESPACE": workload.namespace,
        "SERVICE_ACCOUNT": workload.service_account,
    }
    names = instance.port_names
    if names:
        env["PORT"] = str(ports.app[names[0]])
    for name in names:
        env[env_name("PORT", name)] = str(ports.app[name])
    for key, local_port in ports.tcp_upstreams.items():
        env[tcp_upstream_variable(key)] = f"{LOOPBACK}:{local_port}"
    return env


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' expansion of `$(VAR)` in a container's command and args, from `env`.

    As Kubernetes does it (k8s.io/kubernetes third_party/forked/golang/expansion): `$(NAME)` becomes
    the variable's value; `$$` is an escaped `$` (so `$$(NAME)` stays `$(NAME)`, never expanded); a
    reference to an unknown variable, or one without its closing `)`, stays as written; any other `$`
    is kept. No shell runs: this is the only substitution a command line gets.
    """
    out, cursor = [], 0
    while cursor < len(text):
        char, following = text[cursor], text[cursor + 1 : cursor + 2]
        if char != "$" or not following:
            out.append(char)
            cursor += 1
        elif following == "$":
            out.append("$")
            cursor += 2
        elif following == "(" and (close := text.find(")", cursor + 2)) != -1:
            name = text[cursor + 2 : close]
            out.append(env.get(name, f"$({name})"))
            cursor = close + 1
        else:
            out.append(char + following)
            cursor += 2
    return "".join(out)


def command_line(instance: InstanceSpec, env: Mapping[str, str]) -> list[str]:
    """The argv of a workload instance: `command` + `args`, each with `$(VAR)` expanded from `env`."""
    workload = instance.workload
    return [expand(part, env) for part in (*workload.command, *workload.args)]
