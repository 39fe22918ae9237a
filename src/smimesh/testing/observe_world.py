"""The world of the observe tests: a caller and a thief, `web` split over web-v1 / web-v2, two routes.

caller may GET `/books...` and `/health` on web (TrafficTarget caller-to-web, HTTPRouteGroup
`web-routes` with matches `books` and `health`); thief is allowed nothing. Helpers run `smimesh`
commands against the mesh and follow a streaming one (`smimesh tap`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from smimesh.testing.command_stream import CommandStream
from smimesh.testing.up import WORKLOAD, Mesh, backend, eventually, split, write

__all__ = ["WORKLOAD", "Mesh", "Stream", "eventually", "make_world", "smimesh", "tap_switch", "write"]


def _client(name: str) -> str:
    return f"""
    apiVersion: smimesh.io/v1alpha1
    kind: Workload
    metadata: {{name: {name}, namespace: shop, labels: {{app: {name}}}}}
    spec:
      serviceAccount: {name}
      command: [{sys.executable}, {WORKLOAD}, serve]
      ports: [{{name: http, containerPort: 8080}}]
    """


ROUTES = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: web-routes, namespace: shop}
spec:
  matches:
  - {name: books, pathRegex: "/books", methods: [GET]}
  - {name: health, pathRegex: "/health$", methods: [GET]}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: caller-to-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: shop}
  rules: [{kind: HTTPRouteGroup, name: web-routes, matches: [books, health]}]
  sources: [{kind: ServiceAccount, name: caller, namespace: shop}]
"""
WEB_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
"""


def make_world(directory: Path, *, access: bool = True) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write(directory / "caller.yaml", _client("caller"))
    write(directory / "thief.yaml", _client("thief"))
    write(directory / "web.yaml", WEB_SERVICE)
    write(directory / "web-v1.yaml", backend("web-v1", "v1"))
    write(directory / "web-v2.yaml", backend("web-v2", "v2"))
    write(directory / "split.yaml", split(50, 50))
    if access:
        write(directory / "access.yaml", ROUTES)


def smimesh(mesh: Mesh, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "smimesh", *args, "--api-addr", mesh.api]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=mesh.env, timeout=60)


def tap_switch(mesh: Mesh, instance: str) -> str:
    """The value of the `smimesh.tap` runtime key in an instance's sidecar ('' when unset)."""
    admin = next(r["admin"] for r in mesh.instances() if r["instance"] == instance)
    entries = httpx.get(f"http://{admin}/runtime", timeout=5).json()["entries"]
    return str(entries.get("smimesh.tap", {}).get("final_value", ""))


class Stream(CommandStream):
    """A streaming `smimesh` command (e.g. `tap`) against `mesh`, its output collected as it comes."""

    def __init__(self, mesh: Mesh, *args: str) -> None:
        command = [sys.executable, "-m", "smimesh", *args, "--api-addr", mesh.api]
        super().__init__(command, {**mesh.env, "PYTHONUNBUFFERED": "1"})


def environment_ok() -> bool:
    return os.name == "posix"


def make_bookstore(directory: Path) -> None:
    """The demo's bookstore world (services, split 90/10, access), with test-kit workloads and no
    background traffic: the tests send every request themselves, so every figure is known."""
    from smimesh.demo import manifests as manifests_dir

    directory.mkdir(parents=True, exist_ok=True)
    for name in ("services.yaml", "split.yaml", "access.yaml"):
        (directory / name).write_text((manifests_dir() / name).read_text())
    workloads = [
        ("bookstore-v1", "bookstore", "app: bookstore, version: v1", "http://warehouse.bookstore/stock"),
        ("bookstore-v2", "bookstore", "app: bookstore, version: v2", "http://warehouse.bookstore/stock"),
        ("warehouse", "warehouse", "app: warehouse", ""),
        ("buyer", "buyer", "app: buyer", ""),
        ("thief", "thief", "app: thief", ""),
    ]
    documents = []
    for name, account, labels, upstream in workloads:
        env = f", env: {{UPSTREAM_URL: {upstream!r}}}" if upstream else ""
        documents.append(
            f"apiVersion: smimesh.io/v1alpha1\nkind: Workload\n"
            f"metadata: {{name: {name}, namespace: bookstore, labels: {{{labels}}}}}\n"
            f"spec: {{serviceAccount: {account}, command: [{sys.executable}, {WORKLOAD}, serve]{env},\n"
            f"       ports: [{{name: http, containerPort: 8080}}]}}\n"
        )
    (directory / "workloads.yaml").write_text("---\n".join(documents))


def set_split(directory: Path, v1: int, v2: int) -> None:
    write(
        directory / "split.yaml",
        f"""
    apiVersion: split.smi-spec.io/v1alpha4
    kind: TrafficSplit
    metadata: {{name: bookstore, namespace: bookstore}}
    spec:
      service: bookstore
      backends:
      - {{service: bookstore-v1, weight: {v1}}}
      - {{service: bookstore-v2, weight: {v2}}}
    """,
    )
