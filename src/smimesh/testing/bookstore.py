"""The bookstore world as hub objects and instances: the fixture every mesh/xds test starts from.

Namespace `bookstore`: a `bookstore` root Service split 90/10 across `bookstore-v1`/`bookstore-v2`
(both run as ServiceAccount `bookstore`, 2 + 1 replicas), a `warehouse` the bookstore may call, a
`buyer` that may call the bookstore and a `thief` no TrafficTarget names. Edge-case worlds are the
bookstore plus a few more YAML documents (`world(extra_yaml)`).

Instances are laid out like the local runtime does it, with ports from a deterministic counter, so
goldens stay stable: `world_instances(resources, first_port=20000)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import yaml

from smimesh.mesh import Instance, MeshModel, build_model
from smimesh.mesh.instances import counter, instances_from_workloads, workload_layout
from smimesh.mesh.protocols import protocol_of
from smimesh.resources.core import Service
from smimesh.resources.meta import Resource
from smimesh.resources.registry import decode
from smimesh.resources.workload import Workload

BOOKSTORE_YAML = """
apiVersion: v1
kind: Service
metadata: {name: bookstore, namespace: bookstore}
spec:
  selector: {app: bookstore}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v1, namespace: bookstore}
spec:
  selector: {app: bookstore, version: v1}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v2, namespace: bookstore}
spec:
  selector: {app: bookstore, version: v2}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: warehouse, namespace: bookstore}
spec:
  selector: {app: warehouse}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: bookstore-v1, namespace: bookstore, labels: {app: bookstore, version: v1}}
spec:
  serviceAccount: bookstore
  replicas: 2
  command: [python3, store.py]
  ports: [{name: http, containerPort: 8080}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: bookstore-v2, namespace: bookstore, labels: {app: bookstore, version: v2}}
spec:
  serviceAccount: bookstore
  replicas: 1
  command: [python3, store.py]
  ports: [{name: http, containerPort: 8080}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: warehouse, namespace: bookstore, labels: {app: warehouse}}
spec: {serviceAccount: warehouse, command: [python3, store.py], ports: [{name: http, containerPort: 8080}]}
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: buyer, namespace: bookstore, labels: {app: buyer}}
spec: {serviceAccount: buyer, command: [python3, shopper.py]}
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: thief, namespace: bookstore, labels: {app: thief}}
spec: {serviceAccount: thief, command: [python3, shopper.py]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: bookstore-routes, namespace: bookstore}
spec:
  matches:
  - {name: books, pathRegex: /books, methods: [GET]}
  - {name: buy, pathRegex: /buy, methods: [POST], headers: [{x-shopper: ".+"}]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: warehouse-routes, namespace: bookstore}
spec:
  matches:
  - {name: stock, pathRegex: /stock, methods: [GET]}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: buyer-to-bookstore, namespace: bookstore}
spec:
  destination: {kind: ServiceAccount, name: bookstore, namespace: bookstore}
  rules: [{kind: HTTPRouteGroup, name: bookstore-routes}]
  sources: [{kind: ServiceAccount, name: buyer, namespace: bookstore}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: bookstore-to-warehouse, namespace: bookstore}
spec:
  destination: {kind: ServiceAccount, name: warehouse, namespace: bookstore}
  rules: [{kind: HTTPRouteGroup, name: warehouse-routes, matches: [stock]}]
  sources: [{kind: ServiceAccount, name: bookstore, namespace: bookstore}]
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  backends:
  - {service: bookstore-v1, weight: 90}
  - {service: bookstore-v2, weight: 10}
"""


# The bookstore TrafficSplit with other weights: `SPLIT_TEMPLATE % (v1, v2)` (`world(..., replace=
# ["TrafficSplit/bookstore"])` swaps it in).
SPLIT_TEMPLATE = """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  backends: [{service: bookstore-v1, weight: %d}, {service: bookstore-v2, weight: %d}]
"""


def load_world(text: str) -> list[Resource]:
    """Hub resources from multi-document YAML (test input is trusted: errors raise)."""
    return [decode(doc) for doc in yaml.safe_load_all(text) if doc]


def world(extra_yaml: str = "", *, replace: Sequence[str] = ()) -> list[Resource]:
    """The bookstore resources plus `extra_yaml`; `replace` drops bookstore objects by `Kind/name` first."""
    base = [r for r in load_world(BOOKSTORE_YAML) if f"{r.KIND}/{r.metadata.name}" not in replace]
    return base + load_world(extra_yaml)


def _tcp_services(resources: Sequence[Any]) -> list[tuple[str, str, int]]:
    found = []
    for svc in resources:
        if isinstance(svc, Service):
            for port in svc.spec.ports:
                if protocol_of(port.name, port.app_protocol, port.protocol).value == "tcp":
                    found.append((svc.metadata.namespace, svc.metadata.name, port.port))
    return sorted(found)


def world_instances(
    resources: Sequence[Any], *, first_port: int = 20000, allocate: Callable[[], int] | None = None
) -> list[Instance]:
    """One instance per Workload replica, ports from `allocate` (default: a counter from `first_port`)."""
    workloads = sorted((r for r in resources if isinstance(r, Workload)), key=lambda w: w.key)
    allocate = allocate or counter(first_port)
    return instances_from_workloads(workload_layout(workloads), allocate, _tcp_services(resources))


def bookstore_model(
    extra_yaml: str = "", *, replace: Sequence[str] = (), permissive: bool = False
) -> MeshModel:
    resources = world(extra_yaml, replace=replace)
    return build_model(resources, world_instances(resources), permissive=permissive)


BUYER = "buyer-0.bookstore"
THIEF = "thief-0.bookstore"
BOOKSTORE_V1 = "bookstore-v1-0.bookstore"
WAREHOUSE = "warehouse-0.bookstore"
