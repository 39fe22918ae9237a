"""Edge-case worlds: the bookstore plus a few documents each, for goldens, simulator and Envoy tests.

`EDGE_CASES[name] = (extra YAML, bookstore objects it replaces)`; `edge_model(name)` builds the model.
Cases: a split with v1alpha4 matches, all-zero weights, missing backends (and one lacking the port),
the root as its own backend, a service with several ports (HTTP, HTTP admin, gRPC), and TCP ports with
a TCP split.
"""

from __future__ import annotations

from smimesh.mesh import MeshModel
from smimesh.testing.bookstore import bookstore_model

#: Edge-case worlds: name -> (extra YAML, bookstore objects it replaces). Used by goldens and simulator tests.
EDGE_CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "split_matches": (
        """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: canary-users, namespace: bookstore}
spec:
  matches:
  - {name: insiders, headers: [{cookie: ".*type=insider.*"}]}
  - {name: beta, pathRegex: /beta, methods: [GET, POST]}
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore-canary, namespace: bookstore}
spec:
  service: bookstore
  matches: [{kind: HTTPRouteGroup, name: canary-users}]
  backends: [{service: bookstore-v2, weight: 100}]
""",
        (),
    ),
    "zero_weights": (
        """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  backends: [{service: bookstore-v1, weight: 0}, {service: bookstore-v2, weight: 0}]
""",
        ("TrafficSplit/bookstore",),
    ),
    "missing_backends": (
        """
apiVersion: v1
kind: Service
metadata: {name: bookstore-admin, namespace: bookstore}
spec:
  selector: {app: bookstore}
  ports: [{name: http, port: 9090, targetPort: http}]
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  backends:
  - {service: bookstore-v1, weight: 90}
  - {service: bookstore-v3, weight: 10}
  - {service: bookstore-admin, weight: 50}
""",
        ("TrafficSplit/bookstore",),
    ),
    "root_self": (
        """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: bookstore, namespace: bookstore}
spec:
  service: bookstore
  backends: [{service: bookstore, weight: 50}, {service: bookstore-v2, weight: 50}]
""",
        ("TrafficSplit/bookstore",),
    ),
    "multiple_ports": (
        """
apiVersion: v1
kind: Service
metadata: {name: catalog, namespace: bookstore}
spec:
  selector: {app: catalog}
  ports:
  - {name: http, port: 8080, targetPort: web}
  - {name: http-admin, port: 9000, targetPort: 9000}
  - {name: api, port: 50051, targetPort: grpc, appProtocol: grpc}
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: catalog, namespace: bookstore, labels: {app: catalog}}
spec:
  serviceAccount: catalog
  command: [python3, catalog.py]
  ports:
  - {name: web, containerPort: 8080}
  - {name: admin, containerPort: 9000}
  - {name: grpc, containerPort: 50051}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: everything, namespace: bookstore}
spec:
  matches: [{name: all}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: buyer-to-catalog, namespace: bookstore}
spec:
  destination: {kind: ServiceAccount, name: catalog}
  rules: [{kind: HTTPRouteGroup, name: everything}]
  sources: [{kind: ServiceAccount, name: buyer}]
""",
        (),
    ),
    "tcp_ports": (
        """
apiVersion: v1
kind: Service
metadata: {name: db, namespace: bookstore}
spec:
  selector: {app: db}
  ports: [{name: tcp-postgres, port: 5432, targetPort: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: db-replica, namespace: bookstore}
spec:
  selector: {app: db, role: replica}
  ports: [{name: tcp-postgres, port: 5432, targetPort: 5432}]
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: db, namespace: bookstore, labels: {app: db, role: primary}}
spec: {serviceAccount: db, command: [python3, db.py], ports: [{name: postgres, containerPort: 5432}]}
---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {name: db-replica, namespace: bookstore, labels: {app: db, role: replica}}
spec: {serviceAccount: db, command: [python3, db.py], ports: [{name: postgres, containerPort: 5432}]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db-port, namespace: bookstore}
spec: {matches: {ports: [5432]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: warehouse-to-db, namespace: bookstore}
spec:
  destination: {kind: ServiceAccount, name: db}
  rules: [{kind: TCPRoute, name: db-port}]
  sources: [{kind: ServiceAccount, name: warehouse}]
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: db-reads, namespace: bookstore}
spec:
  service: db
  backends: [{service: db, weight: 3}, {service: db-replica, weight: 1}]
""",
        (),
    ),
}


def edge_model(name: str, *, permissive: bool = False) -> MeshModel:
    extra, replace = EDGE_CASES[name]
    return bookstore_model(extra, replace=replace, permissive=permissive)
