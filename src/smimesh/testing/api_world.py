"""Manifests and bad inputs both API test modules send: three Services and a TrafficSplit in `shop`."""

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: bookstore, namespace: shop}
spec:
  selector: {app: bookstore}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v1, namespace: shop}
spec:
  selector: {app: bookstore, version: v1}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v2, namespace: shop}
spec:
  selector: {app: bookstore, version: v2}
  ports: [{name: http, port: 80}]
"""


def split(name: str = "bookstore", v1: int = 90, v2: int = 10, namespace: str = "shop") -> str:
    return f"""\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  service: bookstore
  backends:
  - service: bookstore-v1
    weight: {v1}
  - service: bookstore-v2
    weight: {v2}
"""


MALFORMED = "apiVersion: v1\nkind: Service\nmetadata: {name: [oops\n"
UNKNOWN_KIND = "apiVersion: example.com/v1\nkind: Frobnicator\nmetadata: {name: x, namespace: shop}\n"
