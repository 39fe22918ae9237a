"""A small mesh built from YAML the way a user writes it: shared by the access, API and xDS tests."""

from __future__ import annotations

from typing import Any

from smimesh.mesh import build_model
from smimesh.mesh.instances import counter, instances_from_workloads, workload_layout
from smimesh.mesh.model import Instance, MeshModel
from smimesh.resources import load_text
from smimesh.resources.workload import Workload


def workload(
    name: str, namespace: str = "shop", *, sa: str = "", port: str = "http", number: int = 8080
) -> str:
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}}}}}
spec:
  serviceAccount: {sa or name}
  command: [python3, app.py]
  ports: [{{name: {port}, containerPort: {number}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: {port}, port: {80 if port.startswith("http") else number}, targetPort: {port}}}]
"""


def target(name: str, destination: str, sources: list[str], rules: str, namespace: str = "shop") -> str:
    listed = ", ".join(f"{{kind: ServiceAccount, name: {s}, namespace: {namespace}}}" for s in sources)
    return f"""
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  destination: {{kind: ServiceAccount, name: {destination}, namespace: {namespace}}}
  rules: {rules}
  sources: [{listed}]
"""


def routes(name: str, matches: str, namespace: str = "shop") -> str:
    return f"""
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  matches: {matches}
"""


def tcp_route(name: str, ports: list[int], namespace: str = "shop") -> str:
    return f"""
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {{name: {name}, namespace: {namespace}}}
spec: {{matches: {{ports: {ports}}}}}
"""


def model_of(*documents: str, permissive: bool = False) -> MeshModel:
    snapshot, instances = inputs_of(*documents)
    return build_model(snapshot, instances, permissive=permissive)


def inputs_of(*documents: str) -> tuple[Any, list[Instance]]:
    """The input snapshot and laid-out instances of a YAML world (what the pipeline's build_model takes)."""
    text = "\n---\n".join(d.strip("\n") for d in documents)
    result = load_text(text)
    assert not [d for d in result.diagnostics if d.is_error], [d.format() for d in result.diagnostics]
    resources = [o.resource for o in result.objects]
    layout = workload_layout(sorted((r for r in resources if isinstance(r, Workload)), key=lambda w: w.key))
    return result.snapshot(), instances_from_workloads(layout, counter(30000))
