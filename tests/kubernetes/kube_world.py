"""Shared helpers for the Kubernetes tests: namespaces opted into the mesh, kubectl runs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from smimesh.api.webhooks.config import MONITORED_LABEL
from smimesh.testing.kubeapi import KubeApiServer


def meshed_namespace(api: KubeApiServer, name: str) -> None:
    """Create (or label) namespace `name` so the webhooks and the controller take it in."""
    labels = {MONITORED_LABEL: "smimesh"}
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    with api.client() as client:
        if client.get(f"/api/v1/namespaces/{name}").status_code == 404:
            client.post("/api/v1/namespaces", json=body).raise_for_status()
        else:
            client.patch(
                f"/api/v1/namespaces/{name}",
                json={"metadata": {"labels": labels}},
                headers={"content-type": "application/merge-patch+json"},
            ).raise_for_status()


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(kubeconfig.parent))
    return subprocess.run(
        ["kubectl", *args], env=env, capture_output=True, text=True, input=stdin, timeout=120, check=False
    )
