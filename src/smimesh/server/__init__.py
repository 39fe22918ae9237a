"""server: the xDS control plane's serving half.

`cache.SnapshotCache` (latest snapshot per node), `ads.XdsServer` (grpc.aio ADS, state of the world
in `ads.SotwStream`, incremental in `delta.DeltaStream`, shared stream loop in `stream`), `sync.SyncState`
(per-proxy sync state), `metrics.ControlPlaneMetrics` (Prometheus), `hooks` (callbacks and the
`authorize` seam). Only this package knows nonces, ACK/NACK and subscriptions.
"""
