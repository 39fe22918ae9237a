"""Telemetry: Envoy sidecar stats → SMI traffic metrics (docs/metrics.md).

scrape (admin stats → samples) → edges (attribution to series, the topology) → window (bounded
sliding window) → query (TrafficMetrics / TrafficMetricsList; objects: what each kind measures) ←
prometheus_backend (the same queries from a Prometheus server); collector (the scrape loop),
export (Prometheus text under stable names), service (`Telemetry`: all of it for the runtime).
"""
