"""The mesh's own request metrics in Prometheus text format, under stable names (docs/metrics.md).

For users who bring their own Prometheus and Grafana: the control plane's `/metrics` can append
`render(window.latest(), topology)`. Values are the sidecars' own cumulative counters as last
scraped (so they are monotonic; a restarted sidecar starts again from zero, which Prometheus'
`rate()` understands). Two families per side:

  smimesh_client_requests_total{source_namespace, source_workload, source_pod,
                                destination_namespace, destination_service, response_class}
  smimesh_client_request_duration_milliseconds_bucket{<same labels but response_class>, le}
  smimesh_server_requests_total{namespace, workload, pod, port, response_class}
  smimesh_server_request_duration_milliseconds_bucket{namespace, workload, pod, port, le}

`response_class` is `1xx`...`5xx`; latency buckets are Envoy's default boundaries (ms).
"""

from __future__ import annotations

from collections.abc import Mapping

from smimesh.telemetry.edges import INBOUND, OUTBOUND, Reading, Series, Topology
from smimesh.telemetry.scrape import Bin

BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
_HELP = {
    "client": "Requests a workload instance sent to a mesh service, measured by its own sidecar.",
    "server": "Requests a workload instance received on one of its ports, measured by its sidecar.",
}


def render(latest: Mapping[Series, Reading], topology: Topology) -> str:
    """Prometheus text exposition of every series whose instance is still in the mesh."""
    lines: dict[str, list[str]] = {"client": [], "server": []}
    buckets: dict[str, list[str]] = {"client": [], "server": []}
    for series, reading in sorted(latest.items()):
        labels = _labels(series, topology)
        if labels is None or series.direction not in (OUTBOUND, INBOUND):  # per-route: not exported
            continue
        side = "client" if series.direction == OUTBOUND else "server"
        for response_class, count in sorted(reading.classes.items()):
            lines[side].append(
                f'smimesh_{side}_requests_total{{{labels},response_class="{response_class}"}} {count:g}'
            )
        buckets[side] += _histogram(f"smimesh_{side}_request_duration_milliseconds", labels, reading.latency)
    out: list[str] = []
    for side in ("client", "server"):
        out += [
            f"# HELP smimesh_{side}_requests_total {_HELP[side]}",
            f"# TYPE smimesh_{side}_requests_total counter",
        ]
        out += lines[side]
        name = f"smimesh_{side}_request_duration_milliseconds"
        out += [f"# HELP {name} Latency of those requests in milliseconds.", f"# TYPE {name} histogram"]
        out += buckets[side]
    return "\n".join(out) + "\n"


def _labels(series: Series, topology: Topology) -> str | None:
    pod = topology.pods.get(series.instance)
    if pod is None:
        return None
    if series.direction == OUTBOUND:
        namespace, _, service = series.target.partition("/")
        pairs = [
            ("source_namespace", pod.namespace),
            ("source_workload", pod.workload),
            ("source_pod", pod.name),
            ("destination_namespace", namespace),
            ("destination_service", service),
        ]
    else:
        pairs = [
            ("namespace", pod.namespace),
            ("workload", pod.workload),
            ("pod", pod.name),
            ("port", series.target),
        ]
    return ",".join(f'{key}="{_escape(value)}"' for key, value in pairs)


def _histogram(name: str, labels: str, bins: tuple[Bin, ...]) -> list[str]:
    """Cumulative `le` buckets; a bin counts under the first boundary at or above its upper edge."""
    total = sum(b.count for b in bins)
    lines = []
    for le in BUCKETS_MS:
        below = sum(b.count for b in bins if b.upper <= le)
        lines.append(f'{name}_bucket{{{labels},le="{le:g}"}} {below:g}')
    lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {total:g}')
    lines.append(f"{name}_sum{{{labels}}} {sum((b.lower + b.width / 2) * b.count for b in bins):g}")
    lines.append(f"{name}_count{{{labels}}} {total:g}")
    return lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
