"""The egress world of the pod tests: pod `web` (ServiceAccount `web`) may reach, outside the mesh, HTTP
hosts `api.example.com` and `*.wild.example` on 8080 (and `narrow.example.com` there for GET /allowed
only), TLS hosts by SNI `api.secure.example` and `*.tls.example` on 8443, and TCP 198.18.0.3/32 on
9000; pod `idle` (no Egress names its ServiceAccount) none. Addresses are the NetLab's test range
(198.18.0.0/15), never a real host."""

from __future__ import annotations

from smimesh.mesh import Instance

EGRESS_YAML = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: web-http, namespace: shop}
spec:
  sources: [{kind: ServiceAccount, name: web, namespace: shop}]
  hosts: [api.example.com, "*.wild.example"]
  ports: [{number: 8080, protocol: http}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: narrow-api, namespace: shop}
spec:
  matches: [{name: allowed, pathRegex: /allowed, methods: [GET]}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: web-narrow, namespace: shop}
spec:
  sources: [{kind: ServiceAccount, name: web, namespace: shop}]
  hosts: [narrow.example.com]
  ports: [{number: 8080, protocol: http}]
  matches: [{apiGroup: specs.smi-spec.io/v1alpha4, kind: HTTPRouteGroup, name: narrow-api}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: web-tls, namespace: shop}
spec:
  sources: [{kind: ServiceAccount, name: web, namespace: shop}]
  hosts: [api.secure.example, "*.tls.example"]
  ports: [{number: 8443, protocol: https}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: web-tcp, namespace: shop}
spec:
  sources: [{kind: ServiceAccount, name: web, namespace: shop}]
  ipAddresses: [198.18.0.3/32]
  ports: [{number: 9000, protocol: tcp}]
"""
WEB = Instance("shop", "web", "web-0", "web", host="198.18.0.2", transparent=True)
IDLE = Instance("shop", "idle", "idle-0", "idle", host="198.18.0.5", transparent=True)
