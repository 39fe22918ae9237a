"""The Envoy sidecar of a workload instance: its bootstrap file and its command line.

Owns how a sidecar is started: the bootstrap (from `xds.bootstrap.build_bootstrap`: node id
`<instance>.<namespace>`, ADS to the control plane, admin on loopback) is written 0600 into the run
directory, and Envoy runs with `--use-dynamic-base-id` (many Envoys on one machine must not share
hot-restart shared memory) and `--concurrency 1` (a sidecar serves one instance; one worker thread
per sidecar keeps a 50-workload mesh from starting hundreds of threads on a small machine).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smimesh.local.binaries import find_envoy
from smimesh.local.plan import InstanceSpec
from smimesh.local.ports import InstancePorts
from smimesh.local.rundir import RunDir
from smimesh.settings import LOOPBACK


@dataclass(frozen=True, slots=True)
class SidecarLauncher:
    """Callable as the supervisor's `sidecar_command`: writes the bootstrap, returns Envoy's argv."""

    run_dir: RunDir
    xds_port: int
    xds_host: str = LOOPBACK
    log_level: str = "warning"
    envoy: Path | None = None
    # node id -> the ADS stream's gRPC initial metadata proving that node id (`server.xds_auth`)
    xds_credential: Callable[[str], list[dict[str, str]]] | None = None
    delta: bool = False  # incremental xDS (DELTA_GRPC) instead of state of the world (`up --xds-mode`)
    stats_flush_interval_s: float = 1.0  # the telemetry scrape interval (settings.scrape_interval_s)

    def __call__(self, instance: InstanceSpec, ports: InstancePorts) -> list[str]:
        path = self.run_dir.bootstrap_path(instance.namespace, instance.name)
        self.run_dir.write_private(path, json.dumps(self.bootstrap(instance, ports), indent=1))
        return self.argv(path)

    def bootstrap(self, instance: InstanceSpec, ports: InstancePorts) -> dict[str, object]:
        from smimesh.xds.bootstrap import build_bootstrap

        cluster = f"{instance.workload.name}.{instance.namespace}"
        bootstrap: dict[str, Any] = build_bootstrap(
            instance.node_id,
            cluster,
            self.xds_host,
            self.xds_port,
            ports.admin,
            delta=self.delta,
            stats_flush_interval_s=self.stats_flush_interval_s,
        )
        if self.xds_credential is not None:
            service = bootstrap["dynamic_resources"]["ads_config"]["grpc_services"][0]
            service["initial_metadata"] = self.xds_credential(instance.node_id)
        return bootstrap

    def argv(self, bootstrap_path: Path) -> list[str]:
        envoy = self.envoy or find_envoy()
        return [
            str(envoy),
            "-c",
            str(bootstrap_path),
            "--use-dynamic-base-id",
            "--concurrency",
            "1",
            "--log-level",
            self.log_level,
            "--drain-time-s",
            "1",
            # Request log lines (tap, denials) reach the log file within 0.2 s instead of Envoy's 10 s.
            "--file-flush-interval-msec",
            "200",
        ]
