"""The ingress proxy `smimesh up --ingress HOST:PORT` runs: a Workload the runtime adds by itself.

Owns `ingress_workloads(address, cwd)`: none without an address, else one instance in namespace
`smimesh-system` running as ServiceAccount `smimesh-ingress` (its mesh identity). Its "app" only
waits: the work is its sidecar's, which gets an `ingress` listener on HOST:PORT because the
instance carries the address in its labels (`mesh.ingress.ingress_view`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from smimesh.local.plan import WorkloadSpec
from smimesh.mesh.ingress import HOST_LABEL, INGRESS_ACCOUNT, INGRESS_NAMESPACE, INGRESS_WORKLOAD, PORT_LABEL

_WAIT = "import signal; signal.pause()"  # SIGTERM's default action ends it


def ingress_workloads(address: str | None, cwd: Path) -> tuple[WorkloadSpec, ...]:
    if not address:
        return ()
    host, _, port = address.rpartition(":")
    return (
        WorkloadSpec(
            namespace=INGRESS_NAMESPACE,
            name=INGRESS_WORKLOAD,
            service_account=INGRESS_ACCOUNT,
            replicas=1,
            command=(sys.executable, "-c", _WAIT),
            cwd=cwd,
            labels=((HOST_LABEL, host.strip("[]")), (PORT_LABEL, port)),
        ),
    )
