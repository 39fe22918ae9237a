"""Manifests of the small end-to-end test worlds, built from their usual parts.

A world of tests/e2e, tests/edges or tests/resilience is a few Workloads (an idle client that only
holds a sidecar, servers running the test kit's `workloads.py`), their Services, one HTTPRouteGroup
matching every request and the TrafficTargets that let the client call them. The parts are written
once here; a test adds only what is its own (an Egress, a Retry, a TCPRoute) and joins the documents
with `documents(...)`. Values are rendered as JSON (valid YAML), so paths and URLs need no quoting.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence

from smimesh.testing import workloads

PY, SERVE = sys.executable, str(workloads.HERE)
EVERYTHING = "everything"


def documents(*parts: str) -> str:
    """One YAML stream of the parts (each one or more documents)."""
    return "\n---\n".join(part.strip("\n") for part in parts) + "\n"


def _workload(name: str, namespace: str, account: str, command: Sequence[str], extra: str = "") -> str:
    return f"""apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}}}}}
spec:
  serviceAccount: {account}
  command: {json.dumps(list(command))}{extra}"""


def idle_client(namespace: str, name: str = "client") -> str:
    """A Workload that only holds a sidecar: the test sends its requests through that sidecar."""
    return _workload(name, namespace, name, [PY, "-c", "import time; time.sleep(1e6)"])


def server(
    name: str, namespace: str, *, account: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """A Workload running `workloads.py serve` on its `http` port (8080); `env`: UPSTREAM_URL, ..."""
    extra = f"\n  env: {json.dumps(dict(env))}" if env else ""
    extra += "\n  ports: [{name: http, containerPort: 8080}]"
    return _workload(name, namespace, account or name, [PY, SERVE, "serve"], extra)


def service(name: str, namespace: str) -> str:
    """A Service `name` on port 80 selecting `app: name`, to its `http` port."""
    return f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]"""


def everything(namespace: str) -> str:
    """The HTTPRouteGroup `everything`: one match `all`, every path and method."""
    return f"""apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: {EVERYTHING}, namespace: {namespace}}}
spec:
  matches: [{{name: all, pathRegex: ".*", methods: ["*"]}}]"""


def allow(name: str, namespace: str, destination: str, sources: Sequence[str] = ("client",)) -> str:
    """A TrafficTarget `name`: the `sources` accounts may send every request to `destination`'s."""
    subjects = ", ".join(f"{{kind: ServiceAccount, name: {s}, namespace: {namespace}}}" for s in sources)
    return f"""apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  destination: {{kind: ServiceAccount, name: {destination}, namespace: {namespace}}}
  rules: [{{kind: HTTPRouteGroup, name: {EVERYTHING}}}]
  sources: [{subjects}]"""
