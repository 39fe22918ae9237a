"""Meshed pods (issue 13): sidecar injection, traffic capture, and the sidecar's start-up in a pod.

- `layout`: the in-pod layout every other piece agrees on (ports, the proxy's UID, names, annotations).
- `inject`: the pure injection of a pod spec, of the workload kinds that carry one, and of a manifest
  stream (`smimesh inject`); `patch`: the same as an RFC 6902 JSON patch (the mutating webhook).
- `probes`: kubelet's HTTP probes rewritten to reach the app through the sidecar's health port.
- `capture`: the nat rules that send a pod's TCP through its sidecar (`smimesh capture`).
- `sidecar`: the sidecar container's entrypoint (`smimesh sidecar`: bootstrap from the pod's
  environment and token, then Envoy) and its readiness check (`smimesh sidecar-ready`).
See docs/kubernetes-pods.md.
"""
