"""The control plane in a cluster (`smimesh controller`): wiring, the mesh CA Secret, leader election,
the lease holder's writes (Events, caBundle) and the webhooks' serving certificate. See
docs/kubernetes.md."""
